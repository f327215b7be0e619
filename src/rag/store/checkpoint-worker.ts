import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

/**
 * Worker side of {@link Checkpointer}: its own connection to the corpus database, folding the write-ahead log back
 * into the database file (and fsyncing it) away from the event loop.
 */
const db = new Database((workerData as { path: string }).path);
db.pragma('busy_timeout = 30000');
parentPort?.on('message', (message: { id: number }) => {
  try {
    const [result] = db.pragma('wal_checkpoint(TRUNCATE)') as {
      busy: number;
      log: number;
      checkpointed: number;
    }[];
    parentPort?.postMessage({ id: message.id, ok: true, result });
  } catch (err) {
    parentPort?.postMessage({
      id: message.id,
      ok: false,
      error: err instanceof Error ? err.message : String(err),
    });
  }
});
