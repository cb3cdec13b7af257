import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";

/** Debian's Chromium: the browser the tests use unless `CHROMIUM_PATH` names another; nothing is ever downloaded. */
export const DEFAULT_CHROMIUM_PATH = "/usr/bin/chromium";

/** The Chromium executable: the `CHROMIUM_PATH` environment variable, else Debian's. */
export function chromiumPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.CHROMIUM_PATH || DEFAULT_CHROMIUM_PATH;
}

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
export async function launchChromium(timeoutMs = 15_000, env: NodeJS.ProcessEnv = process.env): Promise<Browser> {
  const path = chromiumPath(env);
  if (!existsSync(path)) {
    const where = env.CHROMIUM_PATH ? `CHROMIUM_PATH=${path}` : `${path} (the default; CHROMIUM_PATH is not set)`;
    throw new Error(
      `Chromium not found at ${where}: install Debian's "chromium" package (apt-get install -y chromium) for ` +
        `${DEFAULT_CHROMIUM_PATH}, or set CHROMIUM_PATH to a Chromium executable. The browser tests never download a browser.`,
    );
  }
  return chromium.launch({ executablePath: path, args: CHROMIUM_ARGS, timeout: timeoutMs });
}
