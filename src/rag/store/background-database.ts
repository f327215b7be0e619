import { siblingModule, WorkerClient, WorkerError } from '../workers.js';
import { toDocumentInsert, type CorpusChange, type DocumentRows } from './database.js';
import type { DatabaseRequest } from './database-worker.js';

/** Rows (documents and chunks) sent to the worker per message while writing a change. */
const ROWS_PER_MESSAGE = 2000;

/**
 * The corpus database seen from a worker thread with its own connection, for the work that would otherwise freeze
 * the bot: checkpoints (after a bulk change the write-ahead log is as large as the data, and folding it back took 0.5
 * to 1 s at 100k chunks) and large changes (storing 100k chunks took 2 s of inserts and a 186 ms COMMIT on the event
 * loop). The worker starts on first use, so a store that only sees small changes never spawns it.
 */
export class DatabaseWorker {
  private client: WorkerClient | undefined;

  constructor(private readonly databasePath: string) {}

  private async call<T = unknown>(request: DatabaseRequest): Promise<T> {
    // At normal priority: behind the graph workers, the 100k ingest took 1 to 1.5 s longer.
    this.client ??= new WorkerClient(
      siblingModule('database-worker', import.meta.url),
      { path: this.databasePath },
      0,
    );
    try {
      return await this.client.call<T>(request);
    } catch (err) {
      // A worker that died is replaced on the next call; an SQLite error leaves it running.
      if (!(err instanceof WorkerError)) this.client = undefined;
      throw err;
    }
  }

  /** Folds the write-ahead log into the database file; resolves once it is durable. */
  async checkpoint(): Promise<void> {
    await this.call({ op: 'checkpoint' });
  }

  /**
   * SHA-256 (hex) and size of a file (any file: the index's files too), computed in the worker. Saving a 1M-chunk
   * index hashes 4 GB, about 2 s of a core that the event loop and the collector's helper threads need meanwhile.
   */
  checksum(path: string): Promise<{ sha256: string; bytes: number }> {
    return this.call<{ sha256: string; bytes: number }>({ op: 'checksum', path });
  }

  /**
   * Applies a corpus change in one transaction on the worker's connection, sent in slices so that no single message
   * is large to copy; resolves once committed. A failure rolls the transaction back (a worker that died takes its
   * uncommitted transaction with it).
   */
  async apply(change: CorpusChange): Promise<void> {
    await this.call({ op: 'begin' });
    try {
      const removes = change.removeDocumentIds;
      for (let i = 0; i < removes.length; i += ROWS_PER_MESSAGE)
        await this.call({
          op: 'write',
          removeDocumentIds: removes.slice(i, i + ROWS_PER_MESSAGE),
          upsertDocuments: [],
        });
      let slice: DocumentRows[] = [];
      let rows = 0;
      for (const upsert of change.upsertDocuments) {
        slice.push({ document: toDocumentInsert(upsert.document), chunks: upsert.chunks });
        rows += 1 + upsert.chunks.length;
        if (rows >= ROWS_PER_MESSAGE) {
          await this.call({ op: 'write', removeDocumentIds: [], upsertDocuments: slice });
          slice = [];
          rows = 0;
        }
      }
      if (slice.length > 0) await this.call({ op: 'write', removeDocumentIds: [], upsertDocuments: slice });
      await this.call({ op: 'commit', meta: change.meta });
    } catch (err) {
      await this.call({ op: 'rollback' }).catch(() => undefined);
      throw err;
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.close();
  }
}
