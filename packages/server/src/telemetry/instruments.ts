import type { Counter, Histogram, Meter, UpDownCounter } from "@opentelemetry/api";

/** The bridge's instruments: RPC semantic conventions (v1.37 names) plus the bridge's own. */
export interface BridgeInstruments {
  readonly callDuration: Histogram;
  readonly callsStarted: Counter;
  readonly requestSize: Histogram;
  readonly responseSize: Histogram;
  readonly connections: UpDownCounter;
  readonly streams: UpDownCounter;
  readonly upgradesRefused: Counter;
  readonly goAwaysSent: Counter;
  readonly keepaliveTimeouts: Counter;
  readonly stalls: Counter;
  readonly bytesReceived: Counter;
  readonly bytesSent: Counter;
}

// Buckets in ms for call durations: sub-millisecond in-process calls up to long streams.
const DURATION_BUCKETS_MS = [
  0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000,
];
const SIZE_BUCKETS = [0, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304];

export function createBridgeInstruments(meter: Meter): BridgeInstruments {
  const bytes = { unit: "By" };
  return {
    callDuration: meter.createHistogram("rpc.server.duration", {
      unit: "ms",
      description: "Duration of calls served by the bridge, from the request HEADERS to the status.",
      advice: { explicitBucketBoundaries: DURATION_BUCKETS_MS },
    }),
    callsStarted: meter.createCounter("grpc.server.call.started", {
      description: "Calls the bridge received (gRFC A66).",
    }),
    requestSize: meter.createHistogram("rpc.server.request.size", {
      ...bytes,
      description: "Size of request messages.",
      advice: { explicitBucketBoundaries: SIZE_BUCKETS },
    }),
    responseSize: meter.createHistogram("rpc.server.response.size", {
      ...bytes,
      description: "Size of response messages.",
      advice: { explicitBucketBoundaries: SIZE_BUCKETS },
    }),
    connections: meter.createUpDownCounter("grpc_ws.server.connections", {
      description: "Open WebSocket connections.",
    }),
    streams: meter.createUpDownCounter("grpc_ws.server.streams", {
      description: "Open calls (streams) on all connections.",
    }),
    upgradesRefused: meter.createCounter("grpc_ws.server.upgrades_refused", {
      description: "WebSocket upgrades refused, by reason.",
    }),
    goAwaysSent: meter.createCounter("grpc_ws.server.goaways_sent", {
      description: "GOAWAY frames the bridge sent, by error code.",
    }),
    keepaliveTimeouts: meter.createCounter("grpc_ws.server.keepalive_timeouts", {
      description: "Connections closed because a keepalive PING went unanswered.",
    }),
    stalls: meter.createCounter("grpc_ws.server.flow_control_stalls", {
      description: "Times a connection stopped sending because the socket held more than socketHighWaterMark.",
    }),
    bytesReceived: meter.createCounter("grpc_ws.server.bytes_received", {
      ...bytes,
      description: "WebSocket payload bytes received.",
    }),
    bytesSent: meter.createCounter("grpc_ws.server.bytes_sent", {
      ...bytes,
      description: "WebSocket payload bytes sent.",
    }),
  };
}
