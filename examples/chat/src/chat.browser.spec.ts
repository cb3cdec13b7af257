import { execFile } from "node:child_process";
import { mkdirSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { launchChromium } from "@grpc-ws/interop";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LIMITS } from "./shared/limits.js";
import { startChatServer, type ChatServer } from "./server/app.js";

// Two real Chromium pages against the real chat server (in this process, on 127.0.0.1).

const WAIT = 15_000;
const exampleDir = fileURLToPath(new URL("../", import.meta.url));
const artifactsDir = fileURLToPath(new URL("../../../test-artifacts/", import.meta.url));

let server: ChatServer | undefined;
let port = 0;
let browser: Browser | undefined;
const contexts: BrowserContext[] = [];
let ada: Page;
let bob: Page;
const ROOM = "lobby";

const startServer = async (p: number) =>
  (server = await startChatServer({ port: p, host: "127.0.0.1", drainTimeoutMs: 200 }));
const tid = (page: Page, id: string) => page.getByTestId(id);

async function openPage(): Promise<Page> {
  const context = await browser!.newContext({ viewport: { width: 900, height: 640 } });
  contexts.push(context);
  context.setDefaultTimeout(WAIT);
  const page = await context.newPage();
  page.on("pageerror", (err) => console.error("page error:", err));
  await page.goto(`http://127.0.0.1:${port}/`);
  return page;
}

async function joinAs(page: Page, name: string, room = ROOM): Promise<void> {
  await tid(page, "name-input").fill(name);
  await tid(page, "room-input").fill(room);
  await tid(page, "join-button").click();
}

async function send(page: Page, text: string): Promise<void> {
  await tid(page, "message-input").fill(text);
  await tid(page, "message-input").press("Enter");
}

/** The read receipt line under the message with `text`. */
function receipt(page: Page, text: string, receiptText: string) {
  return tid(page, "message-list")
    .getByTestId("message")
    .filter({ hasText: text })
    .getByTestId("read-receipt")
    .filter({ hasText: receiptText });
}

beforeAll(async () => {
  // The page's script: the same build step `npm run chat` runs.
  await promisify(execFile)(process.execPath, ["scripts/build.mjs", "--web-only"], {
    cwd: exampleDir,
    timeout: 60_000,
  });
  port = (await startServer(0)).port;
  browser = await launchChromium(WAIT);
  [ada, bob] = await Promise.all([openPage(), openPage()]);
}, 90_000);

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await server?.close();
});

describe("chat in two browser pages", () => {
  it("joins both to one room and shows each other online", async () => {
    await joinAs(ada, "Ada");
    await joinAs(bob, "Bob");
    for (const page of [ada, bob]) {
      await expect
        .poll(() => tid(page, "connection-state").getAttribute("data-state"), { timeout: WAIT })
        .toBe("online");
      await tid(page, "online-list").locator('[data-name="Ada"]').waitFor();
      await tid(page, "online-list").locator('[data-name="Bob"]').waitFor();
      expect(await tid(page, "room-title").textContent()).toContain(ROOM);
    }
  });

  it("delivers a message sent in one page to the other, with a timestamp", async () => {
    await send(ada, "Hello Bob, this is Ada");
    const message = tid(bob, "message-list").getByTestId("message").filter({ hasText: "Hello Bob, this is Ada" });
    await message.waitFor();
    expect(await message.getByTestId("message-author").textContent()).toBe("Ada");
    expect(await message.getByTestId("message-time").getAttribute("datetime")).toMatch(/^\d{4}-\d\d-\d\dT/);
    // The composer is cleared once the server accepted the message.
    expect(await tid(ada, "message-input").inputValue()).toBe("");
    // Bob's page saw it, so Ada gets a read receipt through the bidi session.
    await receipt(ada, "Hello Bob, this is Ada", "Seen by Bob").waitFor();
  });

  it("shows the typing indicator in the other page", async () => {
    await tid(bob, "message-input").pressSequentially("I am typ", { delay: 20 });
    await expect.poll(() => tid(ada, "typing-indicator").textContent(), { timeout: WAIT }).toContain("Bob is typing");
    await send(bob, "I am typing no more");
    await expect.poll(() => tid(ada, "typing-indicator").textContent(), { timeout: WAIT }).toBe("");
    await tid(ada, "message-list").getByText("I am typing no more").waitFor();
  });

  it("uploads a file with progress; it appears in the other page with a working link", async () => {
    // Record every value the progress bar takes.
    await ada.evaluate(() => {
      const bar = document.querySelector('[data-testid="upload-progress"]')!;
      const seen: string[] = [];
      (window as unknown as { progressSeen: string[] }).progressSeen = seen;
      new MutationObserver((records) => {
        for (const r of records) if (r.oldValue !== null) seen.push(r.oldValue);
        seen.push(bar.getAttribute("value") ?? "");
      }).observe(bar, { attributes: true, attributeFilter: ["value"], attributeOldValue: true });
    });
    const body = Buffer.alloc(300 * 1024, "grpc-ws ");
    await tid(ada, "file-input").setInputFiles({ name: "report.txt", mimeType: "text/plain", buffer: body });
    await expect.poll(() => tid(ada, "upload-status").getAttribute("data-state"), { timeout: WAIT }).toBe("done");
    expect(await tid(ada, "upload-progress").evaluate((el) => (el as HTMLProgressElement).value)).toBe(100);
    const seen = await ada.evaluate(() => (window as unknown as { progressSeen: string[] }).progressSeen.map(Number));
    expect(
      seen.some((v) => v > 0 && v < 100),
      `intermediate progress in ${JSON.stringify(seen)}`,
    ).toBe(true);

    const link = tid(bob, "message-list").getByTestId("attachment-link").filter({ hasText: "report.txt" });
    await link.waitFor();
    const href = await link.getAttribute("href");
    expect(href).toMatch(/^\/attachments\/[0-9a-f-]{36}\/report\.txt$/);
    const download = await bob.request.get(`http://127.0.0.1:${port}${href}`);
    expect(download.status()).toBe(200);
    expect((await download.body()).equals(body)).toBe(true);
  });

  it("explains bad input: empty and over-long messages, a taken name, a file over the limit", async () => {
    await tid(ada, "message-input").fill("");
    await tid(ada, "send-button").click();
    await expect.poll(() => tid(ada, "chat-error").textContent(), { timeout: WAIT }).toContain("must not be empty");
    expect(await tid(ada, "chat-error").getAttribute("data-code")).toBe("InvalidArgument");

    await send(ada, "x".repeat(LIMITS.maxTextLength + 1));
    await expect
      .poll(() => tid(ada, "chat-error").textContent(), { timeout: WAIT })
      .toContain(`limit is ${LIMITS.maxTextLength}`);
    expect(await tid(ada, "char-count").textContent()).toBe(`${LIMITS.maxTextLength + 1} / ${LIMITS.maxTextLength}`);
    expect(await tid(ada, "send-button").isDisabled()).toBe(true);
    // 100 KB of text: the same plain message, never the transport's byte-limit error; Send stays off.
    await send(ada, "y".repeat(100 * 1024));
    await expect
      .poll(() => tid(ada, "chat-error").textContent(), { timeout: WAIT })
      .toContain(`${100 * 1024} characters long`);
    expect(await tid(ada, "chat-error").textContent()).not.toContain("bytes");
    expect(await tid(ada, "send-button").isDisabled()).toBe(true);
    await tid(ada, "message-input").fill("");
    expect(await tid(ada, "send-button").isDisabled()).toBe(false);

    await tid(ada, "file-input").setInputFiles({
      name: "huge.bin",
      mimeType: "application/octet-stream",
      buffer: Buffer.alloc(LIMITS.maxAttachmentBytes + 1),
    });
    await expect.poll(() => tid(ada, "chat-error").textContent(), { timeout: WAIT }).toContain("too large");
    expect(await tid(ada, "chat-error").getAttribute("data-code")).toBe("ResourceExhausted");
    // One byte over the limit says so, not "1.0 MiB; the limit is 1.0 MiB".
    expect(await tid(ada, "chat-error").textContent()).toContain("1 over");

    const carol = await openPage();
    await joinAs(carol, "ada");
    await expect.poll(() => tid(carol, "join-error").textContent(), { timeout: WAIT }).toContain("already taken");
    expect(await tid(carol, "join-error").getAttribute("data-code")).toBe("AlreadyExists");
    expect(await tid(carol, "chat-screen").isHidden()).toBe(true);
    await carol.context().close();

    // Nothing of this disturbed the room.
    await send(bob, "still fine");
    await tid(ada, "message-list").getByText("still fine").waitFor();
    // A later success takes the old error down.
    expect(await tid(ada, "chat-error").isVisible()).toBe(true);
    await send(ada, "all good");
    await expect.poll(() => tid(ada, "chat-error").isHidden(), { timeout: WAIT }).toBe(true);
  });

  it("shows reconnecting while the server is down and recovers when it is back", async () => {
    await server!.close();
    server = undefined;
    for (const page of [ada, bob]) {
      await expect
        .poll(() => tid(page, "connection-state").getAttribute("data-state"), { timeout: WAIT })
        .toBe("reconnecting");
      // Presence is not shown as live while the page cannot know it.
      expect(await tid(page, "online-list").getAttribute("data-stale")).toBe("true");
      expect(await tid(page, "online-count").textContent()).toBe("–");
      expect(await tid(page, "room-subtitle").textContent()).not.toContain("online");
    }
    await startServer(port);
    for (const page of [ada, bob]) {
      await expect
        .poll(() => tid(page, "connection-state").getAttribute("data-state"), { timeout: WAIT })
        .toBe("online");
      expect(await tid(page, "online-list").getAttribute("data-stale")).toBe("false");
    }
    // The restarted server knows nobody: both rejoined by themselves and chat works again.
    await send(bob, "Back online, Ada?");
    await tid(ada, "message-list").getByText("Back online, Ada?").waitFor();
    await send(ada, "Yes!");
    await tid(bob, "message-list").getByText("Yes!").waitFor();
    await tid(ada, "online-list").locator('[data-name="Bob"]').waitFor();
    await receipt(ada, "Yes!", "Seen by Bob").waitFor();

    // A reload after the restart resumes the name with the token of the automatic rejoin.
    await ada.reload();
    await expect.poll(() => tid(ada, "connection-state").getAttribute("data-state"), { timeout: WAIT }).toBe("online");
    expect(await tid(ada, "join-screen").isHidden()).toBe(true);
    expect(await tid(ada, "my-name").textContent()).toBe("Ada");
  });

  it("shows offline while the browser has no network, and comes back by itself", async () => {
    await ada.context().setOffline(true);
    await expect.poll(() => tid(ada, "connection-state").getAttribute("data-state"), { timeout: WAIT }).toBe("offline");
    await ada.context().setOffline(false);
    await expect.poll(() => tid(ada, "connection-state").getAttribute("data-state"), { timeout: WAIT }).toBe("online");
    await send(ada, "online again");
    await tid(bob, "message-list").getByText("online again").waitFor();
  });

  it("writes a screenshot of both pages side by side", async () => {
    mkdirSync(artifactsDir, { recursive: true });
    const [a, b] = await Promise.all([ada.screenshot(), bob.screenshot()]);
    const sheet = await ada.context().newPage();
    await sheet.setViewportSize({ width: 1816, height: 656 });
    await sheet.setContent(
      `<body style="margin:0;background:#c9cbd6;display:flex;gap:8px;padding:8px">` +
        `<img src="data:image/png;base64,${a.toString("base64")}"><img src="data:image/png;base64,${b.toString("base64")}"></body>`,
    );
    const file = `${artifactsDir}chat-two-pages.png`;
    await sheet.screenshot({ path: file });
    await sheet.close();
    expect(statSync(file).size).toBeGreaterThan(10_000);
  });
});
