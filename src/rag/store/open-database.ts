import { rename, rm, stat } from 'node:fs/promises';
import type { Logger } from '../../logger.js';
import { sha256File } from './atomic-file.js';
import { CorpusDatabase } from './database.js';
import type { IndexManifest } from './manifest.js';

/** Size and SHA-256 of the database file, for the manifest. */
export async function databaseChecksum(path: string): Promise<{ sha256: string; bytes: number }> {
  const [sha256, bytes] = await Promise.all([sha256File(path), stat(path).then((s) => s.size)]);
  return { sha256, bytes };
}

/** Size of the database's write-ahead log (0 when there is none). */
export async function walBytes(path: string): Promise<number> {
  return stat(`${path}-wal`).then(
    (s) => s.size,
    () => 0,
  );
}

async function findDamage(path: string, manifest: IndexManifest | undefined): Promise<string | undefined> {
  let db: CorpusDatabase | undefined;
  try {
    db = new CorpusDatabase(path);
    const generation = db.getMeta().generation ?? '0';
    const recorded = manifest?.database;
    if (recorded && String(recorded.generation) === generation && (await walBytes(path)) === 0) {
      // The database is the one the manifest describes: its checksum must match, byte for byte.
      const actual = await databaseChecksum(path);
      if (actual.bytes !== recorded.bytes)
        return `file is ${actual.bytes} bytes, the manifest says ${recorded.bytes}`;
      if (actual.sha256 !== recorded.sha256) return 'file checksum mismatch';
      return undefined;
    }
    return db.findDamage();
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    try {
      db?.close();
    } catch {
      // a damaged file may refuse to close cleanly; it is moved aside anyway
    }
  }
}

/**
 * Opens the corpus database after checking it: against the manifest's checksum when the manifest describes it (a
 * clean shutdown), else with SQLite's structural check and a check of every chunk against its document. A damaged
 * database is moved aside (`corpus.sqlite.damaged-<time>`, kept for inspection) with its derived files, reported in
 * one line, and replaced by an empty one: the next refresh re-indexes the corpus folder, which is the source of truth.
 */
export async function openCheckedDatabase(
  path: string,
  manifest: IndexManifest | undefined,
  derivedFiles: readonly string[],
  logger: Logger,
): Promise<{ db: CorpusDatabase; damaged: boolean }> {
  const exists = await stat(path).then(
    () => true,
    () => false,
  );
  const problem = exists ? await findDamage(path, manifest) : undefined;
  if (problem !== undefined) {
    const aside = `${path}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    await rename(path, aside);
    for (const suffix of ['-wal', '-shm']) await rm(`${path}${suffix}`, { force: true });
    for (const file of derivedFiles) await rm(file, { force: true });
    logger.error(
      { code: 'DATABASE_CORRUPT', problem, movedTo: aside },
      'document store damaged: moved aside, the corpus will be re-indexed from its files',
    );
  }
  return { db: new CorpusDatabase(path), damaged: problem !== undefined };
}
