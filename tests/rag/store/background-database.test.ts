import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DatabaseWorker } from '../../../src/rag/store/background-database.js';
import {
  CorpusDatabase,
  sentenceSpans,
  withSentenceSpans,
  type CorpusChange,
  type StoredDocument,
} from '../../../src/rag/store/database.js';
import { sha256File } from '../../../src/rag/store/atomic-file.js';
import { walBytes } from '../../../src/rag/store/open-database.js';
import { makeDocument, temporaryDirectory } from '../../helpers/documents.js';

function change(
  from: number,
  documents: number,
  chunksEach: number,
  meta: Record<string, string>,
): CorpusChange {
  return {
    removeDocumentIds: [],
    upsertDocuments: Array.from({ length: documents }, (_, d) => {
      const n = from + d;
      const text = `Document ${n}. `.repeat(chunksEach);
      const document: StoredDocument = {
        ...makeDocument(`doc-${n}`, text),
        sentences: [],
        indexedAt: '2026-11-28T00:00:00.000Z',
        size: text.length,
      };
      return {
        document,
        chunks: Array.from({ length: chunksEach }, (_, c) => ({
          id: `doc-${n}#${c}`,
          docId: document.id,
          index: c,
          start: 0,
          end: 10,
          text: `Document ${n}`,
          firstSentence: 0,
          lastSentence: 0,
          label: n * 100 + c,
          textHash: `hash-${n}-${c}`,
          vector: Float32Array.from({ length: 8 }, (_, i) => n + c + i),
        })),
      };
    }),
    meta,
  };
}

describe('DatabaseWorker', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let db: CorpusDatabase;
  let worker: DatabaseWorker;

  beforeEach(async () => {
    dir = await temporaryDirectory();
    db = new CorpusDatabase(join(dir.path, 'corpus.sqlite'));
    worker = new DatabaseWorker(db.path);
  });
  afterEach(async () => {
    await worker.close();
    db.close();
    await dir.cleanup();
  });

  it('writes a change of several slices in one transaction that the store connection then reads', async () => {
    await worker.apply(change(0, 500, 9, { generation: '1' }));
    expect(db.countChunks()).toBe(4500);
    expect(db.getMeta().generation).toBe('1');
    const [first] = db.iterateChunks();
    expect(first?.id).toBe('doc-0#0');
    expect([...(first?.vector ?? [])]).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(db.labelsOfDocuments(['doc-499'])).toEqual(Array.from({ length: 9 }, (_, c) => 49_900 + c));
  });

  it('stores each document as given, its sentences whether kept as objects or as offsets', async () => {
    const written = change(0, 300, 8, { generation: '1' });
    for (const [i, upsert] of written.upsertDocuments.entries()) {
      const { text } = upsert.document;
      const sentences = Array.from({ length: 8 }, (_, s) => {
        const start = (text.length / 8) * s;
        const end = start + text.length / 8 - 1;
        return { index: s, start, end, text: text.slice(start, end) };
      });
      const { sentences: _, ...rest } = upsert.document;
      upsert.document =
        i % 2 === 0 ? { ...rest, sentences } : withSentenceSpans({ ...rest }, sentenceSpans(sentences));
    }
    await worker.apply(written);
    const stored = new Map(db.listDocuments().map((d) => [d.id, d]));
    expect(stored.size).toBe(300);
    for (const { document } of written.upsertDocuments) {
      const read = stored.get(document.id);
      expect(read?.sentences).toEqual(document.sentences);
      expect(read?.sentences).toHaveLength(8);
      expect({ ...read }).toEqual({ ...document });
    }
  });

  it('reads back documents whose texts are moved out of the heap, each with its own text and sentences', async () => {
    const written = change(0, 300, 2, { generation: '1' });
    for (const upsert of written.upsertDocuments) {
      const text = `« ${upsert.document.id} » l’enquête a été menée. `.repeat(150);
      const sentences = [0, 1, 2].map((s) => ({
        index: s,
        start: s * 10,
        end: s * 10 + 9,
        text: text.slice(s * 10, s * 10 + 9),
      }));
      upsert.document = { ...upsert.document, text, size: text.length, sentences };
    }
    expect(written.upsertDocuments.reduce((sum, u) => sum + u.document.text.length, 0)).toBeGreaterThan(
      1 << 20,
    );
    await worker.apply(written);
    const read = db.listDocuments();
    expect(read.map((d) => d.id)).toEqual(written.upsertDocuments.map((u) => u.document.id).sort());
    const byId = new Map(read.map((d) => [d.id, d]));
    for (const { document } of written.upsertDocuments) {
      expect(byId.get(document.id)?.text).toBe(document.text);
      expect(byId.get(document.id)?.sentences).toEqual(document.sentences);
    }
  });

  it('keeps nothing of a change that fails in a late slice, and writes the next one', async () => {
    await worker.apply(change(0, 10, 3, { generation: '1' }));
    const failing = change(10, 600, 5, { generation: '2' });
    // A chunk id that already exists violates the UNIQUE constraint after several slices have been written.
    failing.upsertDocuments.at(-1)!.chunks[0]!.id = 'doc-0#0';
    await expect(worker.apply(failing)).rejects.toThrow(/UNIQUE/);
    expect(db.countChunks()).toBe(30);
    expect(db.getMeta().generation).toBe('1');
    await worker.apply(change(10, 5, 2, { generation: '3' }));
    expect(db.countChunks()).toBe(40);
    expect(db.getMeta().generation).toBe('3');
  });

  it('hashes a file as the event loop does, across its read buffer, and rejects a missing one but keeps serving', async () => {
    const path = join(dir.path, 'graph.bin');
    await writeFile(path, randomBytes(2_500_003));
    expect(await worker.checksum(path)).toEqual({ sha256: await sha256File(path), bytes: 2_500_003 });
    await expect(worker.checksum(join(dir.path, 'missing.bin'))).rejects.toThrow(/ENOENT/);
    await worker.apply(change(0, 2, 2, { generation: '1' }));
    expect(db.countChunks()).toBe(4);
  });

  it('checkpoints the log its writes left', async () => {
    await worker.apply(change(0, 200, 10, { generation: '1' }));
    expect(await walBytes(db.path)).toBeGreaterThan(0);
    await worker.checkpoint();
    expect(await walBytes(db.path)).toBe(0);
    expect(db.countChunks()).toBe(2000);
  });
});
