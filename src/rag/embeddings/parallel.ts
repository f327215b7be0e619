import { availableParallelism } from 'node:os';
import { Embeddings } from '@langchain/core/embeddings';
import { createPacer, DEFAULT_SLICE_MS } from '../pacing.js';
import { siblingModule, WorkerClient } from '../workers.js';
import { LocalHashEmbeddings } from './local.js';
import type { VerbatimEmbeddings } from './types.js';

/** Below this many texts, a batch is embedded on the calling thread: posting it to workers would cost more. */
const MIN_PARALLEL_TEXTS = 256;

/**
 * The local embedder spread over worker threads, one per core: a large refresh embeds on every core and leaves the
 * event loop free for questions. Vectors are identical to {@link LocalHashEmbeddings}' (same id), so an index built
 * either way is the same. Small batches and queries stay on the calling thread.
 */
export class ParallelLocalEmbeddings extends Embeddings implements VerbatimEmbeddings {
  readonly id: string;
  readonly dimensions: number;
  /** Texts per call the store should send: large enough to keep every worker busy. */
  readonly preferredBatchSize = 4096;
  private readonly local: LocalHashEmbeddings;
  private readonly workers: WorkerClient[] = [];
  private readonly threads: number;
  private readonly sliceMs: number;

  /**
   * `sliceMs`: how long a batch embedded on the calling thread may hold the event loop before letting other events
   * run (a pacer's slice; 0 yields after every text).
   */
  constructor(options: { dimensions: number; threads?: number; sliceMs?: number }) {
    super({});
    this.local = new LocalHashEmbeddings({ dimensions: options.dimensions });
    this.id = this.local.id;
    this.dimensions = this.local.dimensions;
    this.threads = options.threads ?? availableParallelism();
    this.sliceMs = options.sliceMs ?? DEFAULT_SLICE_MS;
  }

  /** Workers start on the first large batch, so a process that only answers questions never spawns them. */
  private pool(): WorkerClient[] {
    if (this.workers.length > 0 || this.threads <= 1) return this.workers;
    const url = siblingModule('local-worker', import.meta.url);
    for (let i = 0; i < this.threads; i += 1)
      this.workers.push(new WorkerClient(url, { dimensions: this.dimensions }));
    return this.workers;
  }

  /** Embeds into typed arrays without the number[] round trip of the LangChain interface. */
  async embedDocumentsToFloat32(texts: string[]): Promise<Float32Array[]> {
    const d = this.dimensions;
    const workers = texts.length < MIN_PARALLEL_TEXTS ? [] : this.pool();
    if (workers.length === 0) {
      // Paced: 114 texts embedded in one go by a process that had not embedded yet held the event loop 108-131 ms
      // (code not yet optimised, the glossary's index built on first use) after opening a 1M-chunk index.
      const pacer = createPacer(this.sliceMs);
      const vectors: Float32Array[] = [];
      for (const text of texts) {
        const vector = new Float32Array(d);
        this.local.embedInto(text, vector);
        vectors.push(vector);
        const pause = pacer.tick();
        if (pause) await pause;
      }
      return vectors;
    }
    const per = Math.ceil(texts.length / workers.length);
    const parts = await Promise.all(
      workers.map((w, i) => w.call<Float32Array>(texts.slice(i * per, (i + 1) * per))),
    );
    return parts.flatMap((block) =>
      Array.from({ length: block.length / d }, (_, i) => block.subarray(i * d, (i + 1) * d)),
    );
  }

  override async embedDocuments(texts: string[]): Promise<number[][]> {
    return (await this.embedDocumentsToFloat32(texts)).map((v) => Array.from(v));
  }

  override async embedQuery(text: string): Promise<number[]> {
    return this.local.embed(text);
  }

  /** Stops the worker threads. */
  async close(): Promise<void> {
    await Promise.all(this.workers.splice(0).map((w) => w.close()));
  }
}
