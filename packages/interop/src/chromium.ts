import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";

/** Debian's Chromium: the only browser the tests use; nothing is ever downloaded. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

// Flags these machines need: no sandbox as root, no GPU, and no background traffic to a
// network that is closed (otherwise Chromium keeps retrying connections it cannot make).
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

/** Starts headless Chromium; fails (never skips) with a clear message when it is not installed. */
export async function launchChromium(timeoutMs = 15_000): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`${CHROMIUM_PATH} is missing: install Debian's "chromium" package (apt-get install -y chromium). The browser tests never download a browser.`);
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, timeout: timeoutMs });
}
