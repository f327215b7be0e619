import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { yieldToEventLoop } from '../pacing.js';

/** A temporary path next to `target`, unique to this process and call. */
export function temporaryPathFor(target: string): string {
  return join(
    dirname(target),
    `.${basename(target)}.tmp-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`,
  );
}

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Publishes a file atomically: `produce` writes it under a temporary name, which is fsynced, renamed over
 * `target`, and the directory fsynced. A crash at any moment leaves either the old or the new file, never a mix.
 */
export async function publishAtomically(
  target: string,
  produce: (temporaryPath: string) => Promise<void>,
): Promise<void> {
  const temporary = temporaryPathFor(target);
  try {
    await produce(temporary);
    await fsyncPath(temporary);
    await rename(temporary, target);
  } catch (err) {
    await rm(temporary, { force: true });
    throw err;
  }
  await fsyncPath(dirname(target)).catch(() => undefined);
}

/** Writes text to `target` atomically (see {@link publishAtomically}). */
export async function writeFileAtomically(target: string, content: string): Promise<void> {
  await publishAtomically(target, async (temporary) => {
    const handle = await open(temporary, 'w');
    try {
      await handle.writeFile(content, 'utf8');
    } finally {
      await handle.close();
    }
  });
}

/** SHA-256 (hex) of a file's content, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** SHA-256 of bytes in memory, hashed a megabyte at a time with the event loop running in between. */
export async function sha256Bytes(bytes: Uint8Array | readonly Uint8Array[]): Promise<string> {
  const hash = createHash('sha256');
  const slice = 1 << 20;
  for (const part of bytes instanceof Uint8Array ? [bytes] : bytes)
    for (let at = 0; at < part.length; at += slice) {
      hash.update(part.subarray(at, at + slice));
      await yieldToEventLoop();
    }
  return hash.digest('hex');
}
