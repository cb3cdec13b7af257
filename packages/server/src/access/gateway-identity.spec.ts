// Gateway mode: the per-call hook sees the connection (identity, cookies, remote address), so an
// HttpOnly session cookie becomes `authorization` for a real grpc-js upstream, with x-forwarded-for.
import { createClient } from "@connectrpc/connect";
import { createWebSocketTransport } from "@grpc-ws/client";
import { startGrpcJsTestServer } from "@grpc-ws/interop";
import { describe, expect, it } from "vitest";
import { TestService } from "../../../../gen/grpc/testing/test_pb.js";
import { createWebSocketBridge, type CallEndInfo, type UpstreamCallInfo } from "../index.js";
import type { ConnectionInfo } from "./connection-info.js";

describe("gateway hook", () => {
  it("turns the session cookie into authorization and adds x-forwarded-for; identity reaches both onCallEnd hooks", async () => {
    const upstream = await startGrpcJsTestServer();
    const bridgeEnded: CallEndInfo[] = [];
    const upstreamEnded: UpstreamCallInfo[] = [];
    const hookSaw: ConnectionInfo[] = [];
    const bridge = createWebSocketBridge({
      authenticate: ({ cookies }) => (cookies["session"] ? { identity: { session: cookies["session"] } } : undefined),
      upstream: {
        target: upstream.baseUrl,
        onRequest({ headers, connection }) {
          hookSaw.push(connection);
          const session = connection.request.cookies["session"];
          if (session) headers.push(["authorization", `Bearer ${session}`]);
          const forwarded = connection.request.headers["x-forwarded-for"];
          const chain = [forwarded, connection.request.remoteAddress].filter((v) => typeof v === "string").join(", ");
          headers.push(["x-forwarded-for", chain]);
        },
        onCallEnd: (info) => upstreamEnded.push(info),
      },
      onCallEnd: (info) => bridgeEnded.push(info),
    });
    const { url } = await bridge.listen();
    // In a browser the cookie rides along by itself (HttpOnly included); a Node client sets it.
    const transport = createWebSocketTransport({ url, headers: { cookie: "session=s3cr3t-session-id" } });
    try {
      await createClient(TestService, transport).unaryCall({});
      const metadata = upstream.events.calls.at(-1)!.metadata;
      expect(metadata.get("authorization")).toEqual(["Bearer s3cr3t-session-id"]);
      expect(metadata.get("x-forwarded-for")).toEqual(["127.0.0.1"]);
      // The cookie itself never travels as call metadata (it was on the upgrade only).
      expect(metadata.get("cookie")).toEqual([]);
      expect(hookSaw[0]!.identity).toEqual({ session: "s3cr3t-session-id" });
      expect(bridgeEnded.map((e) => [e.forwarded, e.connection.identity])).toEqual([
        [true, { session: "s3cr3t-session-id" }],
      ]);
      expect(upstreamEnded.map((e) => e.connection.identity)).toEqual([{ session: "s3cr3t-session-id" }]);
    } finally {
      await transport.close();
      await bridge.close({ drainTimeoutMs: 100 });
      await upstream.close();
    }
  });
});
