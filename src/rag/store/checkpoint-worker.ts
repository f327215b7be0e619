import { workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { serveRequests } from '../workers.js';

/**
 * Worker side of {@link Checkpointer}: its own connection to the corpus database, folding the write-ahead log back
 * into the database file (and fsyncing it) away from the event loop.
 */
const db = new Database((workerData as { path: string }).path);
db.pragma('busy_timeout = 30000');
serveRequests(() => db.pragma('wal_checkpoint(TRUNCATE)'));
