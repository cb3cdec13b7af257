import { unref } from "@grpc-ws/wire/internal";

/** gRPC's MAX_CONNECTION_AGE (gRFC A9): connections are drained after an age, so clients rebalance. */
export interface ConnectionAgeOptions {
  /** Age after which a connection gets GOAWAY (new calls go to a new connection; open calls go on). */
  maxAgeMs: number;
  /** The age is randomized by ± this fraction, so connections opened together do not all go at once. Default 0.1. */
  jitter?: number;
  /**
   * How long calls still open after the GOAWAY may run before they are cancelled (UNAVAILABLE) and
   * the socket closes. Default: no limit (as in gRPC), so a stream that never ends keeps its connection.
   */
  graceMs?: number;
}

export const DEFAULT_AGE_JITTER = 0.1;

/** `ConnectionAgeOptions` checked, with their defaults. */
export interface ResolvedConnectionAge {
  readonly maxAgeMs: number;
  readonly jitter: number;
  readonly graceMs: number | undefined;
}

/** Checks the option at bridge creation; returns it with defaults. */
export function resolveConnectionAge(options: ConnectionAgeOptions | undefined): ResolvedConnectionAge | undefined {
  if (options === undefined) return undefined;
  const { maxAgeMs, jitter = DEFAULT_AGE_JITTER, graceMs } = options;
  if (!(maxAgeMs > 0 && maxAgeMs <= 2 ** 31 - 1))
    throw new RangeError(
      `grpc-ws: maxConnectionAge.maxAgeMs must be a number from 1 to ${2 ** 31 - 1}, got ${String(maxAgeMs)}`,
    );
  if (!(jitter >= 0 && jitter < 1))
    throw new RangeError(`grpc-ws: maxConnectionAge.jitter must be from 0 to below 1, got ${String(jitter)}`);
  if (graceMs !== undefined && !(graceMs >= 0 && graceMs <= 2 ** 31 - 1))
    throw new RangeError(
      `grpc-ws: maxConnectionAge.graceMs must be a number from 0 to ${2 ** 31 - 1}, got ${String(graceMs)}`,
    );
  return { maxAgeMs, jitter, graceMs };
}

/**
 * Arms the age timer of one connection: `goAway` at the jittered age, then `cutOff` when the
 * grace period ends. Returns a function that disarms both (the connection closed first).
 */
export function armConnectionAge(age: ResolvedConnectionAge, goAway: () => void, cutOff: () => void): () => void {
  const jittered = age.maxAgeMs * (1 + age.jitter * (2 * Math.random() - 1));
  let grace: ReturnType<typeof setTimeout> | undefined;
  const timer = setTimeout(
    () => {
      goAway();
      if (age.graceMs !== undefined) unref((grace = setTimeout(cutOff, age.graceMs)));
    },
    Math.max(1, Math.round(jittered)),
  );
  unref(timer);
  return () => {
    clearTimeout(timer);
    clearTimeout(grace);
  };
}
