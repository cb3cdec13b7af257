// An idle client connection must not keep a Node process alive (its socket and timers are unref'd
// while no call is open); a call in flight does.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createTestServiceImpl } from "@grpc-ws/interop";
import { createWebSocketBridge } from "@grpc-ws/server";
import { afterEach, expect, it } from "vitest";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const child = fileURLToPath(new URL("./idle-exit-child.test-util.ts", import.meta.url));
const bridge = createWebSocketBridge({ routes: (r) => r.service(TestService, createTestServiceImpl()) });
afterEach(() => bridge.close({ drainTimeoutMs: 50 }));

it("a script that made a call and never closed the transport exits by itself", async () => {
  const { url } = await bridge.listen({ port: 0 });
  const proc = spawn(process.execPath, ["--import", "tsx", child, url], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  proc.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  // Bounded: 20 s covers compiling the TypeScript under load; a process held open never exits.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const code = await Promise.race([
    exited,
    new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), 20_000))),
  ]);
  clearTimeout(timer);
  if (code === "timeout") proc.kill("SIGKILL");
  expect(stdout, stderr).toBe("called open\n");
  expect(code).toBe(0);
});
