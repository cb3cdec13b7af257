// The scenarios of `npm run bench`, their sizes (full and --quick) and the peers each runs on.
import type { ScenarioSpec } from "./client.js";
import type { PeerKind } from "./peers.js";

export interface Scenario {
  id: string;
  title: string;
  spec: ScenarioSpec;
  peers: PeerKind[];
}

const ALL: PeerKind[] = ["ws", "grpc-js", "connect", "grpc-ws", "gateway"];
const RPC: PeerKind[] = ["grpc-js", "connect", "grpc-ws", "gateway"];

export function scenarios(quick: boolean): Scenario[] {
  // Quick: every scenario, small enough that the whole run ends within 60 s on a busy machine.
  const q = (full: number, small: number): number => (quick ? small : full);
  // Each sample ends at its count or at this deadline, whichever comes first (on a busy machine,
  // the deadline): the run's length stays bounded whatever the load.
  const cap = q(2500, 1000);
  return [
    {
      id: "unarySeq",
      title: "unary sequential",
      spec: { kind: "unarySeq", calls: q(2000, 100), capMs: cap },
      peers: ALL,
    },
    {
      id: "unaryConc",
      title: "unary, 100 in flight",
      spec: { kind: "unaryConc", calls: q(5000, 300), inflight: 100, capMs: cap },
      peers: ALL,
    },
    {
      id: "ss100",
      title: "server streaming 100 B",
      spec: { kind: "serverStream", size: 100, count: q(100_000, 3000), capMs: cap },
      peers: ["ws", "ws-corked", ...RPC],
    },
    {
      id: "ss64k",
      title: "server streaming 64 KiB",
      spec: { kind: "serverStream", size: 65_536, count: q(1500, 50), capMs: cap },
      peers: ALL,
    },
    {
      id: "cs100",
      title: "client streaming 100 B",
      spec: { kind: "clientStream", size: 100, count: q(100_000, 3000), capMs: cap },
      peers: ALL,
    },
    {
      id: "pingPong",
      title: "bidi ping-pong",
      spec: { kind: "pingPong", pings: q(2000, 100), capMs: cap },
      peers: RPC,
    },
    {
      id: "streams1000",
      title: "1,000 concurrent server streams on one connection",
      // A longer deadline: a sample cut short cancels all 1,000 streams at once (a burst of
      // RST_STREAM that servers bound as rapid reset), and a server whose handlers produce every
      // message before the first byte goes out delivers nothing at all by a 2.5 s deadline on a busy
      // machine (0 msgs/s, not a rate). 8 s lets every peer finish on a busy 2-core machine.
      spec: { kind: "manyStreams", streams: q(1000, 100), perStream: q(100, 10), size: 100, capMs: q(8000, cap) },
      peers: RPC,
    },
  ];
}

/** A scenario at warm-up size: lets every peer's JIT settle before the timed rounds. */
export function warmup(s: Scenario): ScenarioSpec {
  const spec = { ...s.spec, capMs: Math.max(100, s.spec.capMs / 2) };
  switch (spec.kind) {
    case "unarySeq":
      return { ...spec, calls: Math.min(spec.calls, 300) };
    case "unaryConc":
      return { ...spec, calls: Math.min(spec.calls, 500) };
    case "serverStream":
    case "clientStream":
      return { ...spec, count: Math.max(1, Math.floor(spec.count / 5)) };
    case "pingPong":
      return { ...spec, pings: Math.min(spec.pings, 300) };
    case "manyStreams":
      return { ...spec, perStream: Math.max(1, Math.floor(spec.perStream / 5)) };
  }
}

/** Memory scenarios: idle connections (RSS) and idle streams on one connection (RSS and heap). */
export function memorySizes(quick: boolean): { connections: number; streams: number; rounds: number } {
  return quick ? { connections: 100, streams: 1000, rounds: 1 } : { connections: 1000, streams: 10_000, rounds: 3 };
}

export const MEMORY_PEERS: { connections: PeerKind[]; streams: PeerKind[] } = {
  connections: ["ws", "grpc-js", "connect", "grpc-ws"],
  streams: ["grpc-js", "connect", "grpc-ws"],
};
