import { siblingModule, WorkerClient, WorkerError } from '../workers.js';

/**
 * Checkpoints the corpus database from a worker thread. After a bulk change the write-ahead log is as large as the
 * data; folding it back and fsyncing the database file took 0.5 to 1 s at 100k chunks, which on the main thread would
 * freeze the bot. The worker starts on the first checkpoint, so a store that only sees small changes never spawns it.
 */
export class Checkpointer {
  private client: WorkerClient | undefined;

  constructor(private readonly databasePath: string) {}

  /** Folds the write-ahead log into the database file; resolves once it is durable. */
  async checkpoint(): Promise<void> {
    this.client ??= new WorkerClient(siblingModule('checkpoint-worker', import.meta.url), {
      path: this.databasePath,
    });
    try {
      await this.client.call<unknown>(undefined);
    } catch (err) {
      // A worker that died is replaced on the next checkpoint; an SQLite error leaves it running.
      if (!(err instanceof WorkerError)) this.client = undefined;
      throw err;
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.close();
  }
}
