// A connect-node server (gRPC over HTTP/2 cleartext) on 127.0.0.1 from a free port: the Connect
// reference peer of the interop and compression tests. Node only.
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { connectNodeAdapter, type ConnectNodeAdapterOptions } from "@connectrpc/connect-node";

export interface ConnectNodeTestServer {
  /** "http://127.0.0.1:PORT" */
  baseUrl: string;
  /** Closes the server and every open HTTP/2 session. */
  close(): Promise<void>;
}

export async function startConnectNodeServer(options: ConnectNodeAdapterOptions): Promise<ConnectNodeTestServer> {
  const h2 = http2.createServer(connectNodeAdapter(options));
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  await new Promise<void>((resolve) => h2.listen(0, "127.0.0.1", resolve));
  return {
    baseUrl: `http://127.0.0.1:${(h2.address() as AddressInfo).port}`,
    async close() {
      // Client transports keep their HTTP/2 sessions open; close them from this side so close() returns.
      const closed = new Promise<void>((resolve) => h2.close(() => resolve()));
      for (const session of sessions) session.close();
      await closed;
    },
  };
}
