// A raw upgrade attempt with `ws`, for what a grpc-ws client hides: the HTTP status and headers of
// the response, the subprotocol the server selected, and how the socket closed.
import { SUBPROTOCOL } from "@grpc-ws/wire";
import { WebSocket } from "ws";

export interface UpgradeProbe {
  /** 101 when upgraded, else the refusal's status. */
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** How the WebSocket closed after an upgrade. */
  close?: { code: number; reason: string };
}

/**
 * Offers `protocols` (default grpc-ws.v1) with `headers`; after an upgrade, sends nothing and waits
 * up to `closeWithinMs` for the server to close (then closes itself, code 1000).
 */
export function probeUpgrade(
  url: string,
  options: { protocols?: string[]; headers?: Record<string, string>; closeWithinMs?: number } = {},
): Promise<UpgradeProbe> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options.protocols ?? [SUBPROTOCOL], {
      headers: options.headers,
      perMessageDeflate: false,
    });
    let probe: UpgradeProbe | undefined;
    const timer = setTimeout(() => reject(new Error(`no answer to the upgrade within 10 s`)), 10_000);
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        ws.terminate();
      });
    });
    ws.on("upgrade", (res) => {
      probe = { status: 101, headers: res.headers, body: "" };
    });
    ws.on("open", () => {
      const cut = setTimeout(() => ws.close(1000), options.closeWithinMs ?? 2000);
      ws.once("close", () => clearTimeout(cut));
    });
    ws.on("close", (code, reason) => {
      if (!probe) return;
      clearTimeout(timer);
      resolve({ ...probe, close: { code, reason: reason.toString() } });
    });
    ws.on("error", (error) => {
      if (probe) return;
      clearTimeout(timer);
      reject(error);
    });
  });
}
