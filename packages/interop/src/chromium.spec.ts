import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DEFAULT_CHROMIUM_PATH, chromiumPath, launchChromium } from "./chromium.js";

const dir = mkdtempSync(join(tmpdir(), "grpc-ws-chromium-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("finding Chromium", () => {
  it("uses CHROMIUM_PATH when set, Debian's /usr/bin/chromium otherwise", () => {
    expect(chromiumPath({})).toBe("/usr/bin/chromium");
    expect(chromiumPath({ CHROMIUM_PATH: "" })).toBe(DEFAULT_CHROMIUM_PATH);
    expect(chromiumPath({ CHROMIUM_PATH: "/opt/chromium/chrome" })).toBe("/opt/chromium/chrome");
  });

  it("a missing executable fails with a message naming CHROMIUM_PATH and the default", async () => {
    const missing = join(dir, "no-such-chromium");
    await expect(launchChromium(5_000, { CHROMIUM_PATH: missing })).rejects.toThrow(
      `Chromium not found at CHROMIUM_PATH=${missing}: install Debian's "chromium" package (apt-get install -y chromium) for /usr/bin/chromium, or set CHROMIUM_PATH`,
    );
  });

  it("launches the browser CHROMIUM_PATH points to", async () => {
    // A wrapper that leaves a mark, so the test sees which executable was started.
    const wrapper = join(dir, "chromium-elsewhere");
    const marker = join(dir, "started");
    writeFileSync(wrapper, `#!/bin/sh\ntouch '${marker}'\nexec '${DEFAULT_CHROMIUM_PATH}' "$@"\n`, { mode: 0o755 });
    const browser = await launchChromium(15_000, { CHROMIUM_PATH: wrapper });
    try {
      expect(existsSync(marker)).toBe(true);
      expect(browser.version()).toMatch(/^\d+\./);
    } finally {
      await browser.close();
    }
  });
});
