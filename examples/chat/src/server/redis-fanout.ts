import { create, fromBinary } from "@bufbuild/protobuf";
import { ChatMessageSchema, RoomEventSchema, type RoomEvent } from "../../../../gen/chat/v1/chat_pb.js";
import { storageError, type RedisClient } from "./redis-connection.js";

interface Listener {
  deliver(event: RoomEvent): void;
  fail(error: unknown): void;
}

/**
 * This instance's end of the room channels: one pattern subscription (`<prefix>room:*`) on the
 * subscriber connection, dispatched to the local listeners of each room. Redis pub/sub does not
 * replay what a disconnected subscriber missed, so when the connection drops every listener is
 * failed (their streams end with UNAVAILABLE and resume from the log), and new listeners are
 * refused until our own probe message has come back through the re-established subscription.
 */
export class RedisFanout {
  private readonly rooms = new Map<string, Set<Listener>>();
  private active = false;
  private probeTimer: ReturnType<typeof setInterval> | undefined;
  private readonly probeChannel: string;

  private constructor(
    private readonly client: RedisClient,
    private readonly subscriber: RedisClient,
    private readonly prefix: string,
    instance: string,
    /** Called with each presence or typing payload seen, so the owner can tell when it changed. */
    private readonly observe: (room: string, payload: string) => void,
  ) {
    this.probeChannel = `${prefix}room:\u0000probe:${instance}`;
  }

  static async start(
    client: RedisClient,
    subscriber: RedisClient,
    prefix: string,
    instance: string,
    observe: (room: string, payload: string) => void,
  ): Promise<RedisFanout> {
    const fanout = new RedisFanout(client, subscriber, prefix, instance, observe);
    subscriber.on("error", (err: Error) => fanout.lost(err));
    await subscriber.pSubscribe(`${prefix}room:*`, (message: string, channel: string) =>
      fanout.dispatch(channel, message),
    );
    fanout.active = true; // the PSUBSCRIBE was acknowledged
    return fanout;
  }

  stop(): void {
    clearInterval(this.probeTimer);
    this.probeTimer = undefined;
  }

  channel(room: string): string {
    return `${this.prefix}room:${room}`;
  }

  /** Adds a listener of `room`; UNAVAILABLE while the subscription is not known to be live. */
  subscribe(room: string, deliver: (event: RoomEvent) => void, fail: (error: unknown) => void): () => void {
    if (!this.active) throw storageError(new Error("the room subscription is reconnecting"));
    const listener: Listener = { deliver, fail };
    let set = this.rooms.get(room);
    if (!set) this.rooms.set(room, (set = new Set()));
    set.add(listener);
    return () => {
      const current = this.rooms.get(room);
      current?.delete(listener);
      if (current?.size === 0) this.rooms.delete(room);
    };
  }

  /** Rooms with listeners on this instance. */
  localRooms(): string[] {
    return [...this.rooms.keys()];
  }

  /** Publishes a probe every 100 ms until one comes back through the subscription (see dispatch). */
  private startProbing(): void {
    if (this.probeTimer) return;
    const probe = () => {
      if (this.client.isReady && this.subscriber.isReady)
        void this.client.publish(this.probeChannel, "probe").catch(() => {});
    };
    this.probeTimer = setInterval(probe, 100);
    this.probeTimer.unref?.();
    probe();
  }

  private lost(err: Error): void {
    this.active = false;
    this.startProbing();
    const error = storageError(err);
    const all = [...this.rooms.values()].flatMap((set) => [...set]);
    this.rooms.clear();
    for (const listener of all) listener.fail(error);
  }

  private dispatch(channel: string, message: string): void {
    if (channel === this.probeChannel) {
      this.active = true;
      this.stop();
      return;
    }
    const room = channel.slice(`${this.prefix}room:`.length);
    const listeners = this.rooms.get(room);
    const kind = message.charAt(0);
    if (kind === "p" || kind === "t") this.observe(room, message);
    if (!listeners) return;
    let event: RoomEvent;
    try {
      event = decodeLive(message);
    } catch (err) {
      console.error(`ignoring a malformed event on ${channel}:`, err);
      return;
    }
    for (const listener of [...listeners]) {
      try {
        listener.deliver(event);
      } catch (err) {
        console.error("room listener failed:", err);
      }
    }
  }
}

/** Decodes a channel payload (see redis-scripts.ts): m<id>|<base64 message>, p/t<JSON names>, e<base64 RoomEvent>. */
export function decodeLive(payload: string): RoomEvent {
  const kind = payload.charAt(0);
  const body = payload.slice(1);
  if (kind === "m") {
    const sep = body.indexOf("|");
    return messageEventFrom(body.slice(0, sep), body.slice(sep + 1));
  }
  if (kind === "p") return create(RoomEventSchema, { event: { case: "presence", value: { online: namesFrom(body) } } });
  if (kind === "t") return create(RoomEventSchema, { event: { case: "typing", value: { names: namesFrom(body) } } });
  if (kind === "e") return fromBinary(RoomEventSchema, Buffer.from(body, "base64"));
  throw new Error(`unknown event kind ${JSON.stringify(kind)}`);
}

/** A logged message: its id is its stream id, which is what a client resumes after. */
export function messageEventFrom(id: string, base64: string): RoomEvent {
  const message = fromBinary(ChatMessageSchema, Buffer.from(base64, "base64"));
  message.id = id;
  return create(RoomEventSchema, { event: { case: "message", value: message } });
}

function namesFrom(json: string): string[] {
  const parsed: unknown = JSON.parse(json);
  // Lua's cjson writes an empty table as {}.
  return Array.isArray(parsed) ? parsed.filter((n): n is string => typeof n === "string").sort() : [];
}
