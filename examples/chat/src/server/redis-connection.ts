import { Code, ConnectError } from "@connectrpc/connect";
import { createClient } from "redis";

/** How long connecting (at start, and each reconnect attempt) may take. */
const CONNECT_TIMEOUT_MS = 3_000;

function newClient(url: string, reconnectStrategy: (retries: number, cause: Error) => number | Error) {
  return createClient({
    url,
    disableOfflineQueue: true,
    socket: { connectTimeout: CONNECT_TIMEOUT_MS, reconnectStrategy },
  });
}
export type RedisClient = ReturnType<typeof newClient>;

/**
 * Connects a command client and a subscriber client to `url`. At start an unreachable Redis
 * rejects at once with a clear error (the CLI exits with it); once connected, a lost connection
 * is retried forever (100 ms doubling to 2 s) and commands fail fast meanwhile (no offline
 * queue), so calls get UNAVAILABLE instead of hanging.
 */
export async function connectRedis(
  url: string,
  log: (line: string) => void,
): Promise<{ client: RedisClient; subscriber: RedisClient }> {
  const shown = redactUrl(url);
  let started = false;
  const client = newClient(url, (retries, cause) =>
    started ? Math.min(100 * 2 ** retries, 2_000) : new Error(`cannot reach Redis at ${shown}: ${cause.message}`),
  );
  const subscriber = client.duplicate();
  // One line per outage, not one per retry.
  let down = false;
  for (const c of [client, subscriber]) {
    c.on("error", (err: Error) => {
      if (!started || down) return;
      down = true;
      log(`redis ${shown}: connection lost (${err.message}); retrying`);
    });
    c.on("ready", () => {
      if (!down || !client.isReady || !subscriber.isReady) return;
      down = false;
      log(`redis ${shown}: connected again`);
    });
  }
  try {
    await client.connect();
    await subscriber.connect();
  } catch (err) {
    client.destroy();
    subscriber.destroy();
    throw err instanceof Error && err.message.startsWith("cannot reach")
      ? err
      : new Error(`cannot reach Redis at ${shown}: ${String(err)}`);
  }
  started = true;
  return { client, subscriber };
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString().replace(/\/$/, "");
  } catch {
    return "(invalid URL)";
  }
}

/** A failed Redis command as the status a caller sees: UNAVAILABLE, with what went wrong. */
export function storageError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  const reason = err instanceof Error ? err.message : String(err);
  return new ConnectError(`the chat's storage (Redis) is unavailable: ${reason}; retrying`, Code.Unavailable);
}

/** Runs `op`, turning Redis failures into UNAVAILABLE. */
export async function guarded<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    throw storageError(err);
  }
}
