import { readFileSync, statSync, type Dir } from 'node:fs';
import { open, opendir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../logger.js';
import type { CorpusLoadResult, LoadFailure, SourceDocument } from '../types.js';
import { isSupportedFile, parseDocument, SUPPORTED_EXTENSIONS } from './parse.js';
import { createPacer, sortedIncludes, sortPaced } from '../pacing.js';
import { ShardedMap } from '../sharded-map.js';
import type { CorpusReader } from './reader-pool.js';

/** Files larger than this are rejected without being read: no news article comes close. */
export const MAX_DOCUMENT_BYTES = 20 * 1024 * 1024;

/** Editor, download and OS artefacts: skipped silently rather than reported as unsupported documents. */
const ARTEFACT = /(?:~|\.(?:swp|swo|tmp|bak|part|crdownload))$|^(?:thumbs\.db|desktop\.ini)$/i;

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : err instanceof Error ? err.message : String(err);
}

async function listFiles(
  dir: string,
  relative: string,
  failures: LoadFailure[],
  logger: Logger,
): Promise<string[]> {
  let entries: Dir;
  try {
    // Read a few hundred entries at a time: a folder of 125k articles listed at once is 125k objects made in one
    // go, and the garbage collection that follows held the event loop for 150-250 ms.
    entries = await opendir(path.join(dir, relative), { bufferSize: 256 });
  } catch (err) {
    failures.push({ file: relative || '.', reason: `cannot read directory (${errorCode(err)})` });
    return [];
  }
  const files: string[] = [];
  const pacer = createPacer();
  try {
    for await (const entry of entries) {
      const pause = pacer.tick();
      if (pause) await pause;
      const rel = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.name.startsWith('.')) {
        logger.debug({ file: rel }, 'corpus entry ignored (hidden)');
        continue;
      }
      if (entry.isDirectory()) {
        for (const file of await listFiles(dir, rel, failures, logger)) files.push(file);
      } else if (entry.isFile()) {
        files.push(rel);
      } else if (entry.isSymbolicLink()) {
        const target = await stat(path.join(dir, rel)).catch(() => undefined);
        if (target?.isDirectory()) logger.debug({ file: rel }, 'corpus entry ignored (link to a directory)');
        else files.push(rel);
      }
    }
  } catch (err) {
    failures.push({ file: relative || '.', reason: `cannot read directory (${errorCode(err)})` });
  }
  return files;
}

/**
 * Files read (and parsed) at once. Each read is a few calls to the libuv thread pool: one at a time, a corpus of
 * 12,000 short articles spends most of its loading time waiting on them.
 */
const READ_CONCURRENCY = 32;

/** `map` with at most `limit` calls in flight; results in input order. */
async function mapConcurrently<T, R>(
  items: readonly T[],
  limit: number,
  map: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next;
      next += 1;
      results[i] = await map(items[i] as T);
    }
  };
  const workers = Math.min(items.length, Math.max(1, Math.trunc(limit) || 1));
  await Promise.all(Array.from({ length: workers }, worker));
  return results;
}

/** A file read and parsed: its document, or why it was skipped. */
export type ReadResult = { document: SourceDocument } | { reason: string };

/** Parsed files by path, reused while a file's size and modification time are unchanged. */
export type ParseCache = Map<string, { size: number; mtimeMs: number; result: ReadResult }>;

/** What reading one file gave: a result to keep in the cache (with the size and time it is valid for), or not. */
export type FileReading =
  | { unchanged: true }
  | { asIndexed: true; size: number; mtimeMs: number }
  | { result: ReadResult; size: number; mtimeMs: number }
  | { result: ReadResult };

/**
 * The document the index holds for a corpus file (by path), if any. A file that still parses to that content is
 * loaded as (a copy of the fields of) this document, sharing its text: at 125k articles, a second copy of every text
 * was 0.5 GB more for the garbage collector to trace.
 */
export type IndexedLookup = (file: string) => SourceDocument | undefined;

/** A file loaded as its indexed document: its source fields only (not the sentences a stored one carries). */
export function fromIndexed(doc: SourceDocument): ReadResult {
  const { id, title, language, source, url, date, text, contentHash, path: file } = doc;
  return { document: { id, title, language, source, url, date, text, contentHash, path: file } };
}

/** `result`, or the indexed document when `result` parsed to the same content. */
function preferIndexed(result: ReadResult, indexed: SourceDocument | undefined): ReadResult {
  return indexed && 'document' in result && result.document.contentHash === indexed.contentHash
    ? fromIndexed(indexed)
    : result;
}

/** Why a file is not even opened (an unsupported type), or `undefined`. */
function unsupported(file: string): ReadResult | undefined {
  if (isSupportedFile(file)) return undefined;
  const extension = path.posix.extname(file).toLowerCase();
  const type = extension ? `unsupported file type ${extension}` : 'unsupported file type (no extension)';
  return { reason: `${type} (supported: ${SUPPORTED_EXTENSIONS.join(', ')})` };
}

const tooLarge = (size: number): ReadResult | undefined =>
  size > MAX_DOCUMENT_BYTES
    ? { reason: `too large (${size} bytes, limit ${MAX_DOCUMENT_BYTES})` }
    : undefined;

function parsed(file: string, content: Buffer): ReadResult {
  const result = parseDocument({ fileName: file, content });
  return result.ok ? { document: result.document } : { reason: result.reason };
}

/**
 * Reads and parses one file with synchronous calls, for a thread with no event loop to keep free (a corpus reader
 * worker). `cached` is the size and time of the cache's entry: when both still match, the file is not read.
 * `indexedHash` is the content hash of the document the index holds for the file: when the file parses to it, only
 * that is said (`asIndexed`), and the text is not sent back.
 */
export function readFileSyncForCorpus(
  dir: string,
  file: string,
  cached?: { size: number; mtimeMs: number },
  indexedHash?: string,
): FileReading {
  const skipped = unsupported(file);
  if (skipped) return { result: skipped };
  let content: Buffer;
  let size: number;
  let mtimeMs: number;
  try {
    const absolute = path.join(dir, file);
    ({ size, mtimeMs } = statSync(absolute));
    const large = tooLarge(size);
    if (large) return { result: large };
    if (cached && cached.size === size && cached.mtimeMs === mtimeMs) return { unchanged: true };
    content = readFileSync(absolute);
  } catch (err) {
    return { result: { reason: `cannot read file (${errorCode(err)})` } };
  }
  const result = parsed(file, content);
  if ('document' in result && result.document.contentHash === indexedHash)
    return { asIndexed: true, size, mtimeMs };
  return { result, size, mtimeMs };
}

async function readDocument(
  dir: string,
  file: string,
  cache?: ParseCache,
  indexed?: IndexedLookup,
): Promise<ReadResult> {
  const skipped = unsupported(file);
  if (skipped) return skipped;
  const absolute = path.join(dir, file);
  let content: Buffer;
  let size: number;
  let mtimeMs: number;
  try {
    ({ size, mtimeMs } = await stat(absolute));
    const large = tooLarge(size);
    if (large) return large;
    const cached = cache?.get(file);
    if (cached && cached.size === size && cached.mtimeMs === mtimeMs) return cached.result;
    content = await readSmallFile(absolute, size);
  } catch (err) {
    return { reason: `cannot read file (${errorCode(err)})` };
  }
  try {
    const result = preferIndexed(parsed(file, content), indexed?.(file));
    cache?.set(file, { size, mtimeMs, result });
    return result;
  } finally {
    releaseBuffer(content);
  }
}

/**
 * Buffers reused across reads: a file read into a buffer of its own is memory outside the JavaScript heap, and
 * 125k of them in a row made V8 collect garbage for "external memory pressure", holding the event loop 150 ms and
 * more. Parsing is synchronous, so a buffer is free again as soon as its file is parsed.
 */
const POOLED_BUFFER_BYTES = 256 * 1024;
const freeBuffers: Buffer[] = [];
const pooled = new WeakSet<ArrayBufferLike>();

/** The file's bytes, in a pooled buffer when it fits (give it back with {@link releaseBuffer}). */
async function readSmallFile(absolute: string, size: number): Promise<Buffer> {
  if (size >= POOLED_BUFFER_BYTES) return readFile(absolute);
  let buffer = freeBuffers.pop();
  if (!buffer) {
    buffer = Buffer.allocUnsafeSlow(POOLED_BUFFER_BYTES);
    pooled.add(buffer.buffer);
  }
  let length = 0;
  try {
    const handle = await open(absolute, 'r');
    try {
      while (length < buffer.length) {
        const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
        if (bytesRead === 0) break;
        length += bytesRead;
      }
    } finally {
      await handle.close();
    }
  } catch (err) {
    releaseBuffer(buffer);
    throw err;
  }
  if (length < buffer.length) return buffer.subarray(0, length);
  // The file grew past the pooled size since it was measured: read it whole instead.
  releaseBuffer(buffer);
  return readFile(absolute);
}

function releaseBuffer(content: Buffer): void {
  if (pooled.has(content.buffer) && freeBuffers.length < READ_CONCURRENCY * 2)
    freeBuffers.push(Buffer.from(content.buffer, 0, POOLED_BUFFER_BYTES));
}

/**
 * Loads every document of a corpus directory, recursively, in sorted path order.
 *
 * Hidden entries (dotfiles and dot-directories such as `.removed` or `.trash`) are ignored, and so are editor and
 * OS artefacts (`*~`, `*.swp`, `*.tmp`, `*.bak`, `*.part`, `Thumbs.db`, ...); symbolic links to directories are not
 * followed. Every other file is either loaded or reported in `failures` and logged as a warning: unsupported types
 * (a `.pdf` or `.docx` someone expects to be indexed), unreadable or oversized files, files {@link parseDocument}
 * rejects, and a second file whose id is already taken. A missing or unreadable directory is one failure with `file: '.'`, not an exception; an empty directory
 * gives no documents and no failures, and the caller says so. With a `cache`, a file whose size and modification
 * time have not changed since the last load is not read or parsed again. With `indexed`, a file that parses to the
 * content the index already holds for it is loaded as that document (see {@link IndexedLookup}).
 *
 * Files are read and parsed `concurrency` at a time (32 by default), or by `reader`'s threads when there are at least
 * its `minFiles`; documents, failures and the file that keeps a duplicated id are the same whatever the order in
 * which reads complete, and whichever thread reads them.
 */
export async function loadCorpus(
  dir: string,
  deps: {
    logger: Logger;
    cache?: ParseCache;
    concurrency?: number;
    reader?: CorpusReader;
    indexed?: IndexedLookup;
  },
): Promise<CorpusLoadResult> {
  const { logger, cache, concurrency, reader, indexed } = deps;
  const documents: SourceDocument[] = [];
  const failures: LoadFailure[] = [];
  const report = (failure: LoadFailure): void => {
    failures.push(failure);
    logger.warn({ file: failure.file, reason: failure.reason }, 'corpus file skipped');
  };

  const root = await stat(dir).catch((err: unknown) => errorCode(err));
  if (typeof root === 'string' || !root.isDirectory()) {
    const reason =
      root === 'ENOENT'
        ? `corpus directory not found: ${dir}`
        : typeof root === 'string'
          ? `cannot read corpus directory ${dir} (${root})`
          : `not a directory: ${dir}`;
    report({ file: '.', reason });
    return { documents, failures };
  }

  const listingFailures: LoadFailure[] = [];
  const pacer = createPacer();
  const files = await sortPaced(await listFiles(dir, '', listingFailures, logger), pacer);
  listingFailures.forEach(report);

  const documentFiles: string[] = [];
  for (const file of files) {
    if (!ARTEFACT.test(path.posix.basename(file))) documentFiles.push(file);
    else logger.debug({ file }, 'corpus entry ignored (editor or system artefact)');
    const pause = pacer.tick();
    if (pause) await pause;
  }
  const readOne = (file: string) => readDocument(dir, file, cache, indexed);
  const readHere = () => mapConcurrently(documentFiles, concurrency ?? READ_CONCURRENCY, readOne);
  let results: ReadResult[];
  if (reader && documentFiles.length >= reader.minFiles) {
    try {
      results = await reader.read(dir, documentFiles, {
        readHere: readOne,
        ...(cache ? { cache } : {}),
        ...(indexed ? { indexed } : {}),
      });
    } catch (err) {
      logger.warn({ err }, 'corpus reader threads failed: reading the files on the main thread');
      results = await readHere();
    }
  } else results = await readHere();

  // Sharded: one Map rehashing 65k ids in one step held the event loop about 10 ms.
  const owners = new ShardedMap<string, string>();
  for (const [i, file] of documentFiles.entries()) {
    const pause = pacer.tick();
    if (pause) await pause;
    const result = results[i] as ReadResult;
    if ('reason' in result) {
      report({ file, reason: result.reason });
      continue;
    }
    const owner = owners.get(result.document.id);
    if (owner !== undefined) {
      report({ file, reason: `duplicate id ${result.document.id} (already used by ${owner})` });
      continue;
    }
    owners.set(result.document.id, file);
    documents.push(result.document);
  }
  if (cache) {
    // Looked up in the sorted listing: a Set of 125k paths, built in one call, held the event loop 30-70 ms.
    for (const key of cache.keys()) {
      if (!sortedIncludes(files, key)) cache.delete(key);
      const pause = pacer.tick();
      if (pause) await pause;
    }
  }
  logger.info({ dir, documents: documents.length, failures: failures.length }, 'corpus loaded');
  return { documents, failures };
}
