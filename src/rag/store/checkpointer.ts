import type { Worker } from 'node:worker_threads';
import { siblingModule, startModuleWorker } from '../workers.js';

/**
 * Checkpoints the corpus database from a worker thread. After a bulk change the write-ahead log is as large as the
 * data; folding it back and fsyncing the database file took 0.5 to 1 s at 100k chunks, which on the main thread would
 * freeze the bot. The worker starts on the first checkpoint, so a store that only sees small changes never spawns it.
 */
export class Checkpointer {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();

  constructor(private readonly databasePath: string) {}

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = startModuleWorker(siblingModule('checkpoint-worker', import.meta.url), {
      path: this.databasePath,
    });
    worker.unref();
    worker.on('message', (message: { id: number; ok: boolean; error?: string }) => {
      const waiter = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.ok) waiter?.resolve();
      else waiter?.reject(new Error(`checkpoint failed: ${message.error}`));
    });
    const fail = (err: Error) => {
      for (const { reject } of this.pending.values()) reject(err);
      this.pending.clear();
      this.worker = undefined;
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`checkpoint worker exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }

  /** Folds the write-ahead log into the database file; resolves once it is durable. */
  checkpoint(): Promise<void> {
    const worker = this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id });
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }
}
