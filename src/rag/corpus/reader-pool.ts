import { availableParallelism } from 'node:os';
import { OffHeapTexts } from '../off-heap-text.js';
import { siblingModule, WorkerClient } from '../workers.js';
import type { SourceDocument } from '../types.js';
import {
  fromIndexed,
  type FileReading,
  type IndexedLookup,
  type ParseCache,
  type ReadResult,
} from './load.js';

/** What {@link CorpusReader.read} may use besides the files. */
export interface ReadOptions {
  /** Filled as {@link loadCorpus} fills it: an unchanged file's cached result is reused without reading it. */
  cache?: ParseCache;
  /** Reads one file on the calling thread: the reader may use it while its threads start. */
  readHere?: (file: string) => Promise<ReadResult>;
  /** The indexed document of a file: one that parses to its content comes back as it, its text not sent over. */
  indexed?: IndexedLookup;
}

/** Reads and parses corpus files away from the event loop. */
export interface CorpusReader {
  /** From how many files the reader is worth its messages; a smaller corpus is read on the calling thread. */
  readonly minFiles: number;
  /** Reads `files` of `dir` (paths relative to it), results in the same order. */
  read(dir: string, files: readonly string[], options?: ReadOptions): Promise<ReadResult[]>;
  close(): Promise<void>;
}

/** Files per message: large enough that messaging costs little, small enough to spread the work evenly. */
const BATCH = 128;
/** Reads in flight on the event loop while the threads start (as in {@link loadCorpus}). */
const HERE_CONCURRENCY = 32;

/**
 * Worker threads that read corpus files with synchronous calls and parse them: on the event loop, 12,500 reads as
 * promises and their parsing took 2 s of one core while the other idled; two readers take 0.5 s, and the event loop
 * only receives documents. The threads start on the first large read and stay (idle, they do not keep the process
 * alive) until {@link close}. The texts of the documents parsed are moved out of V8's heap as they arrive (see
 * {@link OffHeapTexts}): a million-chunk ingest holds them all until it is stored.
 */
export class CorpusReaderPool implements CorpusReader {
  private readonly workers: WorkerClient[] = [];
  /** Whether a reader thread has answered since the threads were started. */
  private ready = false;

  constructor(
    private readonly threads = Math.max(1, Math.min(2, availableParallelism())),
    readonly minFiles = 256,
  ) {}

  private pool(): WorkerClient[] {
    if (this.workers.length === 0) this.ready = false;
    while (this.workers.length < this.threads)
      this.workers.push(new WorkerClient(siblingModule('reader-worker', import.meta.url), undefined));
    return this.workers;
  }

  async read(dir: string, files: readonly string[], options: ReadOptions = {}): Promise<ReadResult[]> {
    const { cache, readHere, indexed } = options;
    const results = new Array<ReadResult>(files.length);
    const parsed = new OffHeapTexts<SourceDocument>();
    let next = 0;
    // Starting a reader thread takes 0.7 s (loading the parsers): until one answers, the event loop reads too.
    const here = async (): Promise<void> => {
      while (!this.ready && readHere && next < files.length) {
        const i = next;
        next += 1;
        results[i] = await readHere(files[i] as string);
      }
    };
    const run = async (worker: WorkerClient): Promise<void> => {
      while (next < files.length) {
        const from = next;
        next = Math.min(files.length, next + BATCH);
        const names = files.slice(from, next);
        const known = names.map((file) => indexed?.(file));
        const batch = names.map((file, i) => {
          const cached = cache?.get(file);
          return {
            file,
            ...(cached ? { cached: { size: cached.size, mtimeMs: cached.mtimeMs } } : {}),
            ...(known[i] ? { indexedHash: known[i].contentHash } : {}),
          };
        });
        const readings = await worker.call<FileReading[]>({ dir, files: batch });
        this.ready = true;
        readings.forEach((reading, i) => {
          const file = names[i] as string;
          if ('unchanged' in reading) {
            results[from + i] = cache?.get(file)?.result ?? { reason: 'cannot read file (cache entry gone)' };
            return;
          }
          const result = 'asIndexed' in reading ? fromIndexed(known[i] as SourceDocument) : reading.result;
          results[from + i] = result;
          if ('result' in reading && 'document' in result) parsed.add(result.document);
          if ('size' in reading) cache?.set(file, { size: reading.size, mtimeMs: reading.mtimeMs, result });
        });
      }
    };
    // Two batches in flight per thread: a reader never waits for the event loop to take its previous answer.
    await Promise.all([
      ...Array.from({ length: HERE_CONCURRENCY }, here),
      ...this.pool().flatMap((worker) => [run(worker), run(worker)]),
    ]);
    parsed.finish();
    return results;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.splice(0).map((w) => w.close()));
  }
}
