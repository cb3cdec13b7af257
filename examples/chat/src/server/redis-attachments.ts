import { randomUUID } from "node:crypto";
import type { AttachmentStore, StoredAttachment } from "./backplane.js";
import { guarded, type RedisClient } from "./redis-connection.js";
import { ADD_FILE } from "./redis-scripts.js";

export interface RedisAttachmentOptions {
  /** Most files kept; past it the oldest are deleted. Default 48 (at most 48 MiB of files, base64 in Redis: ~64 MiB). */
  maxFiles?: number;
  /** How long a file is kept. Default 24 h. */
  ttlMs?: number;
}

/**
 * Uploaded files in Redis, so a link works on every instance: a hash per file
 * (`<prefix>file:<id>`: name, type, base64 data) with a TTL, and a list of ids
 * (`<prefix>files`) that caps their number. A deployment would use object storage.
 */
export class RedisAttachmentStore implements AttachmentStore {
  private readonly maxFiles: number;
  private readonly ttlMs: number;

  constructor(
    private readonly client: RedisClient,
    private readonly prefix: string,
    options: RedisAttachmentOptions = {},
  ) {
    this.maxFiles = options.maxFiles ?? 48;
    this.ttlMs = options.ttlMs ?? 24 * 60 * 60 * 1000;
  }

  add(fileName: string, contentType: string, bytes: Uint8Array): Promise<StoredAttachment> {
    const id = randomUUID();
    return guarded(async () => {
      await this.client.eval(ADD_FILE, {
        keys: [`${this.prefix}file:${id}`, `${this.prefix}files`],
        arguments: [
          id,
          fileName,
          contentType,
          Buffer.from(bytes).toString("base64"),
          String(this.ttlMs),
          String(this.maxFiles),
          `${this.prefix}file:`,
        ],
      });
      return { id, fileName, contentType, bytes };
    });
  }

  get(id: string): Promise<StoredAttachment | undefined> {
    return guarded(async () => {
      const h = await this.client.hGetAll(`${this.prefix}file:${id}`);
      if (h["data"] === undefined) return undefined;
      return {
        id,
        fileName: h["name"] ?? "file",
        contentType: h["type"] ?? "application/octet-stream",
        bytes: Buffer.from(h["data"], "base64"),
      };
    });
  }
}
