import { randomUUID } from "node:crypto";
import type { AttachmentStore, StoredAttachment } from "./backplane.js";

/**
 * Uploaded files, in memory. Bounded: once `maxTotalBytes` would be exceeded the
 * oldest files are dropped (their links then answer 404), so uploads never grow the
 * process without limit. Several instances share files through Redis instead
 * (`RedisAttachmentStore`); a deployment would use object storage.
 */
export class MemoryAttachmentStore implements AttachmentStore {
  private readonly files = new Map<string, StoredAttachment>();
  private totalBytes = 0;

  constructor(private readonly maxTotalBytes = 64 * 1024 * 1024) {}

  add(fileName: string, contentType: string, bytes: Uint8Array): Promise<StoredAttachment> {
    const file: StoredAttachment = { id: randomUUID(), fileName, contentType, bytes };
    this.files.set(file.id, file);
    this.totalBytes += bytes.byteLength;
    // Map iteration order is insertion order: the first keys are the oldest files.
    for (const [id, old] of this.files) {
      if (this.totalBytes <= this.maxTotalBytes || id === file.id) break;
      this.files.delete(id);
      this.totalBytes -= old.bytes.byteLength;
    }
    return Promise.resolve(file);
  }

  get(id: string): Promise<StoredAttachment | undefined> {
    return Promise.resolve(this.files.get(id));
  }
}

/** The path under which the HTTP server serves an attachment. */
export function attachmentUrl(file: StoredAttachment): string {
  return `/attachments/${file.id}/${encodeURIComponent(file.fileName)}`;
}
