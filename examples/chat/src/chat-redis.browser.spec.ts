import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createServer, connect, type Server, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { launchChromium } from "@grpc-ws/interop";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, startRedis, type TestRedis } from "./server/redis-server.testing.js";

// Two chat instances (real processes, `node dist/server.js` with REDIS_URL) on one real
// redis-server, and two Chromium pages: Ada reaches instance A through a small TCP front
// (a stand-in for a load balancer: it tries A, then B), Bob talks to B directly.

const WAIT = 15_000;
const exampleDir = fileURLToPath(new URL("../", import.meta.url));
const ROOM = "scaled";

interface Instance {
  port: number;
  child: ChildProcess | undefined;
  output: string;
}

let redis: TestRedis;
const instances: Instance[] = [];
let front: Server | undefined;
let frontPort = 0;
const frontSockets = new Set<Socket>();
let browser: Browser | undefined;
const contexts: BrowserContext[] = [];
let ada: Page;
let bob: Page;

const tid = (page: Page, id: string) => page.getByTestId(id);
const state = (page: Page) => tid(page, "connection-state").getAttribute("data-state");

/** Starts `node dist/server.js` on `port` against the test's Redis; resolves once it listens. */
async function startInstance(inst: Instance): Promise<void> {
  const child = spawn(process.execPath, ["dist/server.js", "--port", String(inst.port), "--host", "127.0.0.1"], {
    cwd: exampleDir,
    env: { ...process.env, REDIS_URL: redis.url },
    stdio: ["ignore", "pipe", "pipe"],
  });
  inst.child = child;
  inst.output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`chat instance on ${inst.port} did not start:\n${inst.output}`)),
      WAIT,
    );
    child.stdout!.on("data", (c: Buffer) => {
      inst.output += c.toString();
      if (inst.output.includes("listening on")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr!.on("data", (c: Buffer) => (inst.output += c.toString()));
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`chat instance on ${inst.port} exited with ${code}:\n${inst.output}`));
    });
  });
}

/** Kills an instance by its PID, as a crash would (no graceful close). */
async function killInstance(inst: Instance): Promise<void> {
  const child = inst.child;
  inst.child = undefined;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  process.kill(child.pid!, "SIGKILL");
  await exited;
}

/** A TCP front: each connection goes to the first instance that accepts it. */
function startFront(): Promise<void> {
  front = createServer((client) => {
    frontSockets.add(client);
    client.once("close", () => frontSockets.delete(client));
    client.pause();
    const tryBackend = (i: number): void => {
      const port = instances[i]?.port;
      if (port === undefined) return void client.destroy();
      const upstream = connect(port, "127.0.0.1");
      let connected = false;
      upstream.once("connect", () => {
        connected = true;
        client.pipe(upstream).pipe(client);
        client.resume();
      });
      upstream.on("error", () => (connected ? client.destroy() : tryBackend(i + 1)));
      upstream.on("close", () => connected && client.destroy());
      client.on("error", () => upstream.destroy());
      client.on("close", () => upstream.destroy());
    };
    tryBackend(0);
  });
  return new Promise((resolve) => front!.listen(0, "127.0.0.1", () => resolve()));
}

async function openPage(url: string): Promise<Page> {
  const context = await browser!.newContext({ viewport: { width: 900, height: 640 } });
  contexts.push(context);
  context.setDefaultTimeout(WAIT);
  const page = await context.newPage();
  page.on("pageerror", (err) => console.error("page error:", err));
  await page.goto(url);
  return page;
}

async function joinAs(page: Page, name: string): Promise<void> {
  await tid(page, "name-input").fill(name);
  await tid(page, "room-input").fill(ROOM);
  await tid(page, "join-button").click();
  await expect.poll(() => state(page), { timeout: WAIT }).toBe("online");
}

async function send(page: Page, text: string): Promise<void> {
  await tid(page, "message-input").fill(text);
  await tid(page, "message-input").press("Enter");
  await expect.poll(() => tid(page, "message-input").inputValue(), { timeout: WAIT }).toBe("");
}

/** How many message rows with exactly `text` the page shows. */
const countOf = (page: Page, text: string) =>
  tid(page, "message-list")
    .getByTestId("message-text")
    .filter({ hasText: new RegExp(`^${text}$`) })
    .count();

beforeAll(async () => {
  await promisify(execFile)(process.execPath, ["scripts/build.mjs"], { cwd: exampleDir, timeout: 60_000 });
  redis = await startRedis();
  for (let i = 0; i < 2; i++) instances.push({ port: await freePort(), child: undefined, output: "" });
  await Promise.all(instances.map(startInstance));
  await startFront();
  frontPort = (front!.address() as { port: number }).port;
  browser = await launchChromium(WAIT);
  [ada, bob] = await Promise.all([
    openPage(`http://127.0.0.1:${frontPort}/`),
    openPage(`http://127.0.0.1:${instances[1]!.port}/`),
  ]);
}, 90_000);

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  for (const s of frontSockets) s.destroy();
  front?.close();
  for (const inst of instances) await killInstance(inst);
  await redis?.stop();
});

describe("two chat instances on one Redis, two pages", () => {
  it("a page on A and a page on B share the room: messages, typing, uploads", async () => {
    await joinAs(ada, "Ada");
    await joinAs(bob, "Bob");
    for (const page of [ada, bob]) {
      await tid(page, "online-list").locator('[data-name="Ada"]').waitFor();
      await tid(page, "online-list").locator('[data-name="Bob"]').waitFor();
    }
    await send(ada, "hello from A");
    await tid(bob, "message-list").getByText("hello from A").waitFor();
    await send(bob, "hello from B");
    await tid(ada, "message-list").getByText("hello from B").waitFor();

    await tid(bob, "message-input").pressSequentially("typing on B", { delay: 20 });
    await expect.poll(() => tid(ada, "typing-indicator").textContent(), { timeout: WAIT }).toContain("Bob is typing");
    await tid(bob, "message-input").fill("");
    await tid(ada, "message-input").pressSequentially("typing on A", { delay: 20 });
    await expect.poll(() => tid(bob, "typing-indicator").textContent(), { timeout: WAIT }).toContain("Ada is typing");
    await tid(ada, "message-input").fill("");

    const body = Buffer.alloc(100 * 1024, "redis ");
    await tid(ada, "file-input").setInputFiles({ name: "shared.txt", mimeType: "text/plain", buffer: body });
    const link = tid(bob, "message-list").getByTestId("attachment-link").filter({ hasText: "shared.txt" });
    await link.waitFor();
    // Uploaded through A, downloaded from B: the file lives in Redis.
    const download = await bob.request.get(`http://127.0.0.1:${instances[1]!.port}${await link.getAttribute("href")}`);
    expect(download.status()).toBe(200);
    expect((await download.body()).equals(body)).toBe(true);
  });

  it("when instance A dies, its page reconnects to B and resumes with every message once", async () => {
    const before = Number(await tid(ada, "message-list").getAttribute("data-delivered"));
    await killInstance(instances[0]!);
    const sent = Array.from({ length: 5 }, (_, i) => `while A was gone ${i}`);
    for (const text of sent) await send(bob, text);
    for (const text of sent) await tid(ada, "message-list").getByText(text).waitFor();
    await expect.poll(() => state(ada), { timeout: WAIT }).toBe("online");
    for (const text of sent) expect(await countOf(ada, text), text).toBe(1);
    // Resumed, not replayed: the stream delivered just the new messages, none a second time.
    expect(await tid(ada, "message-list").getAttribute("data-repeated")).toBe("0");
    expect(Number(await tid(ada, "message-list").getAttribute("data-delivered")) - before).toBe(sent.length);
    await send(ada, "Ada, now through B");
    await tid(bob, "message-list").getByText("Ada, now through B").waitFor();
    // A comes back; nothing changes for the pages.
    await startInstance(instances[0]!);
  });

  it("both pages show a Redis outage and recover by themselves when it is back", async () => {
    await redis.stop();
    for (const page of [ada, bob]) {
      await expect.poll(() => state(page), { timeout: WAIT }).toBe("reconnecting");
      await expect.poll(() => tid(page, "connection-detail").textContent(), { timeout: WAIT }).toContain("Redis");
      expect(await tid(page, "connection-detail").getAttribute("data-code")).toBe("Unavailable");
      // Who is online is unknown while down: not shown as live.
      expect(await tid(page, "online-list").getAttribute("data-stale")).toBe("true");
    }
    await redis.start();
    for (const page of [ada, bob]) {
      await expect.poll(() => state(page), { timeout: WAIT }).toBe("online");
      expect(await tid(page, "connection-detail").isHidden()).toBe(true);
    }
    await send(bob, "after the outage");
    await tid(ada, "message-list").getByText("after the outage").waitFor();
    await send(ada, "me too");
    await tid(bob, "message-list").getByText("me too").waitFor();
    await tid(bob, "online-list").locator('[data-name="Ada"]').waitFor();
  });
});
