import { createHash } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';

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

/** Bytes {@link sha256File} reads at a time. */
const HASH_READ_BYTES = 1 << 20;

/**
 * SHA-256 (hex) of a file's content, read a megabyte at a time into one buffer. A read stream makes a new buffer
 * for every 64 KB: hashing the 4 GB of a 1M-chunk index that way made V8 collect for "external memory pressure"
 * every 35 ms, and one of those collections held the event loop 870 ms.
 */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafeSlow(HASH_READ_BYTES);
  const handle = await open(path, 'r');
  try {
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}
