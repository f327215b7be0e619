import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { serveRequests } from '../workers.js';
import { configureConnection, prepareWriter, type DocumentRows } from './database.js';

/**
 * A request to the database worker: a checkpoint, a file's checksum, or one step of a corpus change written in one
 * transaction.
 */
export type DatabaseRequest =
  | { op: 'checkpoint' }
  | { op: 'checksum'; path: string }
  | { op: 'begin' }
  | { op: 'write'; removeDocumentIds: string[]; upsertDocuments: DocumentRows[] }
  | { op: 'commit'; meta: Record<string, string> }
  | { op: 'rollback' };

/**
 * Worker side of {@link DatabaseWorker}: its own connection to the corpus database. It folds the write-ahead log back
 * into the database file, and writes large corpus changes, so that neither the inserts nor the COMMIT run on the
 * event loop.
 */
const db = new Database((workerData as { path: string }).path);
configureConnection(db);
const writer = prepareWriter(db);
const hashBuffer = Buffer.allocUnsafeSlow(1 << 20);

/** SHA-256 (hex) and size of a file, read with synchronous calls: this thread has no event loop to keep free. */
function checksum(path: string): { sha256: string; bytes: number } {
  const hash = createHash('sha256');
  const fd = openSync(path, 'r');
  let bytes = 0;
  try {
    for (;;) {
      const read = readSync(fd, hashBuffer, 0, hashBuffer.length, null);
      if (read === 0) break;
      hash.update(hashBuffer.subarray(0, read));
      bytes += read;
    }
  } finally {
    closeSync(fd);
  }
  return { sha256: hash.digest('hex'), bytes };
}

serveRequests((request: DatabaseRequest) => {
  switch (request.op) {
    case 'checkpoint':
      return db.pragma('wal_checkpoint(TRUNCATE)');
    case 'checksum':
      return checksum(request.path);
    case 'begin':
      if (db.inTransaction) db.exec('ROLLBACK');
      db.exec('BEGIN IMMEDIATE');
      return undefined;
    case 'write':
      if (!db.inTransaction) throw new Error('write outside a transaction');
      writer.remove(request.removeDocumentIds);
      writer.upsert(request.upsertDocuments);
      return undefined;
    case 'commit':
      if (!db.inTransaction) throw new Error('commit outside a transaction');
      writer.setMeta(request.meta);
      db.exec('COMMIT');
      return undefined;
    case 'rollback':
      if (db.inTransaction) db.exec('ROLLBACK');
      return undefined;
  }
});
