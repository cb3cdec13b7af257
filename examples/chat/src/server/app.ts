import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createWebSocketBridge } from "@grpc-ws/server";
import { ChatService } from "../../../../gen/chat/v1/chat_pb.js";
import type { BackplaneOptions, ChatBackplane } from "./backplane.js";
import { createChatService } from "./chat-service.js";
import { createHttpHandler } from "./http-handler.js";
import { MemoryBackplane } from "./memory-backplane.js";
import { chatTelemetry } from "./telemetry.js";

export interface ChatServerOptions extends BackplaneOptions {
  /** 0 picks a free port. Default 8080. */
  port?: number;
  /** Default "127.0.0.1"; "0.0.0.0" to accept other machines. */
  host?: string;
  /** Folder with index.html, styles.css and the built app.js. */
  publicDir?: string;
  /**
   * Where rooms, names, history and presence live. Default: a `MemoryBackplane` built from the
   * options above (one instance). A `RedisBackplane` lets several instances share rooms.
   * The server closes it when it stops.
   */
  backplane?: ChatBackplane;
  /** How long stopping lets open calls finish before cancelling them. Default 1000 ms. */
  drainTimeoutMs?: number;
}

export interface ChatServer {
  /** http://host:port/ */
  readonly url: string;
  readonly port: number;
  readonly backplane: ChatBackplane;
  /** Stops accepting, ends every call and connection, and releases the port. */
  close(): Promise<void>;
}

/** The example's public folder, seen from src/server/ (sources) or dist/ (bundle). */
export const DEFAULT_PUBLIC_DIR =
  ["../../public/", "../public/"]
    .map((p) => fileURLToPath(new URL(p, import.meta.url)))
    .find((dir) => existsSync(join(dir, "index.html"))) ?? fileURLToPath(new URL("../../public/", import.meta.url));

/** Starts the page and the grpc-ws bridge (path /grpc) on one HTTP server. */
export async function startChatServer(options: ChatServerOptions = {}): Promise<ChatServer> {
  const backplane = options.backplane ?? new MemoryBackplane(options);
  const telemetry = chatTelemetry(); // GET /metrics; spans over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set
  const handler = createHttpHandler(options.publicDir ?? DEFAULT_PUBLIC_DIR, backplane.attachments);
  const httpServer = createServer((req, res) => void (telemetry.metrics(req, res) || handler(req, res)));
  const bridge = createWebSocketBridge({
    telemetry: telemetry.options,
    routes: (router) => router.service(ChatService, createChatService(backplane)),
    // Upload chunks (32 KiB) and the longest text fit; larger messages are refused by the bridge itself.
    settings: { maxMessageSize: 64 * 1024 },
    drainTimeoutMs: options.drainTimeoutMs ?? 1000,
  });
  bridge.attach(httpServer, { path: "/grpc" });

  const host = options.host ?? "127.0.0.1";
  try {
    await listen(httpServer, options.port ?? 8080, host);
  } catch (err) {
    await bridge.close();
    await backplane.close();
    throw err;
  }
  const port = (httpServer.address() as AddressInfo).port;
  // Loopback and wildcard addresses are reachable as "localhost" from this machine's browser.
  const local = ["0.0.0.0", "::", "127.0.0.1", "::1", "localhost"].includes(host);
  const shownHost = local ? "localhost" : host.includes(":") ? `[${host}]` : host;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${port}/`,
    port,
    backplane,
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => httpServer.close(() => resolve()));
        await bridge.close();
        httpServer.closeAllConnections();
        await stopped;
        await backplane.close();
        await telemetry.shutdown();
      })();
      return closing;
    },
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}
