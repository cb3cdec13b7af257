import { FrameTypeName } from "./constants.js";
import { FrameReader } from "./frame-reader.js";

/** Receives one line per traced event (frames in `<` and out `>`, state changes). */
export type TraceSink = (line: string) => void;

/** The sink for `GRPC_WS_TRACE=1` in Node: lines on stderr, prefixed like grpc-js's GRPC_TRACE. */
export function traceFromEnv(): TraceSink | undefined {
  const env = (
    globalThis as { process?: { env?: Record<string, string | undefined>; stderr?: { write(s: string): void } } }
  ).process;
  const value = env?.env?.GRPC_WS_TRACE;
  if (!value || value === "0" || value === "false") return undefined;
  return (line) => env?.stderr?.write(`${new Date().toISOString()} grpc-ws ${line}\n`);
}

/** One line for the frame `r` stands on. */
export function describeFrame(direction: "<" | ">", r: FrameReader): string {
  return `${direction} ${FrameTypeName[r.type] ?? r.type} stream=${r.streamId} flags=0x${r.flags.toString(16)} length=${r.length}`;
}

const outReader = new FrameReader();

/** Traces every frame of one outgoing WebSocket message. */
export function traceMessage(trace: TraceSink, message: Uint8Array): void {
  const r = outReader.reset(message);
  try {
    while (r.next()) trace(describeFrame(">", r));
  } catch (error) {
    trace(`> unreadable frame: ${error instanceof Error ? error.message : String(error)}`);
  }
}
