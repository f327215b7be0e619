import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import type { Chunk, Sentence, SourceDocument } from '../types.js';
import { OffHeapTexts } from '../off-heap-text.js';

/** A document as stored, with the sentence spans the chunker found in it. */
export interface StoredDocument extends SourceDocument {
  /** `[start, end]` offsets of each sentence in `text`. */
  sentences: Sentence[];
  /** ISO time the document entered the index. */
  indexedAt: string;
  /** Number of characters of the normalised text. */
  size: number;
}

/** A chunk row: the chunk, its hnsw label and its vector. */
export interface StoredChunk extends Chunk {
  label: number;
  vector: Float32Array;
  /** SHA-256 of the chunk text: lets a changed document reuse the vectors of its unchanged passages. */
  textHash: string;
}

/** The changes of one corpus update, applied in one transaction. */
export interface CorpusChange {
  removeDocumentIds: string[];
  upsertDocuments: { document: StoredDocument; chunks: StoredChunk[] }[];
  meta: Record<string, string>;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
  id TEXT PRIMARY KEY, title TEXT NOT NULL, language TEXT NOT NULL, source TEXT NOT NULL, url TEXT NOT NULL,
  date TEXT NOT NULL, text TEXT NOT NULL, content_hash TEXT NOT NULL, path TEXT NOT NULL,
  sentences TEXT NOT NULL, indexed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
  label INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,
  doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  idx INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL, text TEXT NOT NULL,
  first_sentence INTEGER NOT NULL, last_sentence INTEGER NOT NULL, text_hash TEXT NOT NULL, vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE INDEX IF NOT EXISTS chunks_text_hash ON chunks(text_hash);
`;

interface DocumentRow {
  id: string;
  title: string;
  language: string;
  source: string;
  url: string;
  date: string;
  text: string;
  content_hash: string;
  path: string;
  sentences: string;
  indexed_at: string;
}

interface ChunkRow {
  label: number;
  id: string;
  doc_id: string;
  idx: number;
  start: number;
  end: number;
  text: string;
  first_sentence: number;
  last_sentence: number;
  text_hash: string;
  vector: Buffer | null;
}

/** Where {@link withSentenceSpans} keeps a document's offsets, out of sight of spreads and messages. */
const SPANS = Symbol('sentence spans');

/**
 * The document with its sentences kept as offsets in one typed array and made into objects only when read: a
 * million-chunk corpus holds three million sentences, and as objects (each with its text) they were most of what
 * the garbage collector traced. `sentences` is an enumerable getter, so a spread copy still gets them.
 */
export function withSentenceSpans(
  document: Omit<StoredDocument, 'sentences'>,
  spans: Int32Array,
): StoredDocument {
  Object.defineProperty(document, SPANS, { value: spans });
  return Object.defineProperty(document, 'sentences', {
    enumerable: true,
    configurable: true,
    get(this: StoredDocument): Sentence[] {
      const sentences: Sentence[] = [];
      for (let i = 0; i + 1 < spans.length; i += 2) {
        const start = spans[i] as number;
        const end = spans[i + 1] as number;
        sentences.push({ index: i / 2, start, end, text: this.text.slice(start, end) });
      }
      return sentences;
    },
  }) as StoredDocument;
}

/**
 * A parsed document as the store serves it once indexed. Fields written out rather than `{ ...document, indexedAt }`:
 * in V8 11.3 a spread followed by more properties gives each object a hidden class of its own (125k of them at 1M).
 */
export function toStoredDocument(
  document: SourceDocument,
  indexedAt: string,
  spans: Int32Array,
): StoredDocument {
  return withSentenceSpans(
    {
      id: document.id,
      title: document.title,
      language: document.language,
      source: document.source,
      url: document.url,
      date: document.date,
      text: document.text,
      contentHash: document.contentHash,
      path: document.path,
      indexedAt,
      size: document.text.length,
    },
    spans,
  );
}

/** A document as its row is written: its sentences as the JSON of their offsets. */
export type DocumentInsert = Omit<StoredDocument, 'sentences'> & { sentences: string };

/** The rows of one document of a corpus change, as the writer takes them. */
export interface DocumentRows {
  document: DocumentInsert;
  chunks: StoredChunk[];
}

/**
 * The row of a document, built from the offsets {@link withSentenceSpans} keeps without making the sentence objects:
 * a plain object, which a message to the database worker copies on V8's fast path (a document with its `sentences`
 * getter took the slow one, and made every sentence on the way).
 */
export function toDocumentInsert(document: StoredDocument): DocumentInsert {
  const spans = (document as { [SPANS]?: Int32Array })[SPANS] ?? sentenceSpans(document.sentences);
  const pairs: string[] = [];
  for (let i = 0; i + 1 < spans.length; i += 2) pairs.push(`[${spans[i]},${spans[i + 1]}]`);
  return {
    id: document.id,
    title: document.title,
    language: document.language,
    source: document.source,
    url: document.url,
    date: document.date,
    text: document.text,
    contentHash: document.contentHash,
    path: document.path,
    indexedAt: document.indexedAt,
    size: document.size,
    sentences: `[${pairs.join(',')}]`,
  };
}

/** `sentences` as the offsets {@link withSentenceSpans} keeps. */
export function sentenceSpans(sentences: readonly { start: number; end: number }[]): Int32Array {
  const spans = new Int32Array(sentences.length * 2);
  sentences.forEach((s, i) => {
    spans[2 * i] = s.start;
    spans[2 * i + 1] = s.end;
  });
  return spans;
}

function toDocument(row: DocumentRow): StoredDocument {
  const spans = JSON.parse(row.sentences) as [number, number][];
  return withSentenceSpans(
    {
      id: row.id,
      title: row.title,
      language: row.language,
      source: row.source,
      url: row.url,
      date: row.date,
      text: row.text,
      contentHash: row.content_hash,
      path: row.path,
      indexedAt: row.indexed_at,
      size: row.text.length,
    },
    Int32Array.from(spans.flat()),
  );
}

function toChunk(row: ChunkRow): StoredChunk {
  const bytes = row.vector ? new Uint8Array(row.vector).slice() : new Uint8Array(0);
  return {
    label: row.label,
    id: row.id,
    docId: row.doc_id,
    index: row.idx,
    start: row.start,
    end: row.end,
    text: row.text,
    firstSentence: row.first_sentence,
    lastSentence: row.last_sentence,
    textHash: row.text_hash,
    vector: new Float32Array(bytes.buffer, 0, bytes.byteLength / 4),
  };
}

/**
 * The per-connection settings every connection that writes the corpus database uses (the store's own and the
 * background writer's).
 */
export function configureConnection(db: Database.Database): void {
  db.pragma('journal_mode = WAL');
  // In WAL mode NORMAL keeps every commit atomic and survives a killed process; only a power cut may lose the last
  // commits (the corpus files are still there to rebuild from). FULL fsynced a 250 MB log on the event loop (494 ms
  // at 100k chunks); the checkpoint that makes it durable runs in a worker (see DatabaseWorker).
  db.pragma('synchronous = NORMAL');
  // No automatic checkpoint at commit: after a bulk change it copied and fsynced the whole log on the event loop
  // (573 ms at 100k chunks). The store checkpoints after each change is persisted, in a worker for large logs.
  db.pragma('wal_autocheckpoint = 0');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 30000');
}

/** The statements of a corpus change on one connection; the caller owns the transaction around them. */
export function prepareWriter(db: Database.Database): {
  remove(ids: readonly string[]): void;
  upsert(upserts: readonly DocumentRows[]): void;
  setMeta(meta: Record<string, string>): void;
} {
  const deleteDocument = db.prepare('DELETE FROM documents WHERE id = ?');
  const insertDocument = db.prepare(
    `INSERT INTO documents (id, title, language, source, url, date, text, content_hash, path, sentences, indexed_at)
     VALUES (@id, @title, @language, @source, @url, @date, @text, @contentHash, @path, @sentences, @indexedAt)`,
  );
  const insertChunk = db.prepare(
    `INSERT INTO chunks (label, id, doc_id, idx, start, "end", text, first_sentence, last_sentence, text_hash, vector)
     VALUES (@label, @id, @docId, @index, @start, @end, @text, @firstSentence, @lastSentence, @textHash, @vector)`,
  );
  const setMeta = db.prepare(
    'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
  );
  return {
    remove(ids) {
      for (const id of ids) deleteDocument.run(id);
    },
    upsert(upserts) {
      for (const { document, chunks } of upserts) {
        deleteDocument.run(document.id);
        insertDocument.run(document);
        for (const chunk of chunks) {
          insertChunk.run({
            ...chunk,
            vector: Buffer.from(chunk.vector.buffer, chunk.vector.byteOffset, chunk.vector.byteLength),
          });
        }
      }
    },
    setMeta(meta) {
      for (const [key, value] of Object.entries(meta)) setMeta.run(key, value);
    },
  };
}

/**
 * The durable half of the store: documents, chunks, their vectors and the manifest fields, in SQLite. Every
 * corpus change is one transaction, so a crash leaves the previous corpus intact. The hnsw index is derived from
 * this database and can always be rebuilt from it without embedding anything again.
 */
export class CorpusDatabase {
  private readonly db: Database.Database;
  /** Prepared once: a change looks up the vectors of its chunk texts document by document. */
  private vectorByTextHash: Database.Statement | undefined;

  constructor(readonly path: string) {
    this.db = new Database(path);
    configureConnection(this.db);
    this.db.exec(SCHEMA);
  }

  close(): void {
    this.db.close();
  }

  /** Folds the write-ahead log into the database file, on this thread (see {@link DatabaseWorker} for large logs). */
  checkpoint(): void {
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  /**
   * Looks for damage the file checksum cannot rule out (after a crash the database is legitimately newer than the
   * manifest): SQLite's structural check, then every chunk against its text hash and against the text of its
   * document, since a chunk is only ever quoted because it is verbatim in its document. Returns the first problem.
   */
  findDamage(): string | undefined {
    const quick = this.db.pragma('quick_check', { simple: true });
    if (quick !== 'ok') return `quick_check: ${String(quick)}`;
    const chunksOf = this.db.prepare('SELECT id, start, "end", text, text_hash FROM chunks WHERE doc_id = ?');
    for (const doc of this.db.prepare('SELECT id, text FROM documents').iterate() as IterableIterator<{
      id: string;
      text: string;
    }>) {
      for (const chunk of chunksOf.iterate(doc.id) as IterableIterator<{
        id: string;
        start: number;
        end: number;
        text: string;
        text_hash: string;
      }>) {
        if (createHash('sha256').update(chunk.text).digest('hex') !== chunk.text_hash)
          return `chunk ${chunk.id} does not match its hash`;
        if (doc.text.slice(chunk.start, chunk.end) !== chunk.text)
          return `chunk ${chunk.id} is not the text of its document`;
      }
    }
    return undefined;
  }

  getMeta(): Record<string, string> {
    const rows = this.db.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[];
    return Object.fromEntries(rows.map((r) => [r.key, r.value]));
  }

  /** Ids and content hashes only: what a corpus update compares, without loading texts. */
  listDocumentKeys(): { id: string; contentHash: string }[] {
    return this.db.prepare('SELECT id, content_hash AS contentHash FROM documents ORDER BY id').all() as {
      id: string;
      contentHash: string;
    }[];
  }

  /** Every document, their texts kept outside V8's heap (see {@link OffHeapTexts}). */
  listDocuments(): StoredDocument[] {
    const documents = new OffHeapTexts<StoredDocument>();
    for (const row of this.db
      .prepare('SELECT * FROM documents ORDER BY id')
      .iterate() as IterableIterator<DocumentRow>)
      documents.add(toDocument(row));
    return documents.finish();
  }

  /**
   * Every chunk, ordered by label. With `vectors: false` the vector column is not read (an empty array stands in),
   * with `texts: false` the text column is not either (an empty string): loading the served records needs neither 1
   * KB of vector per chunk nor the texts, which are slices of their documents'.
   */
  *iterateChunks(options: { vectors?: boolean; texts?: boolean } = {}): IterableIterator<StoredChunk> {
    const columns = [
      'label, id, doc_id, idx, start, "end"',
      options.texts === false ? "'' AS text" : 'text',
      'first_sentence, last_sentence, text_hash',
      options.vectors === false ? 'NULL AS vector' : 'vector',
    ].join(', ');
    for (const row of this.db
      .prepare(`SELECT ${columns} FROM chunks ORDER BY label`)
      .iterate() as IterableIterator<ChunkRow>) {
      yield toChunk(row);
    }
  }

  countChunks(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM chunks').get() as { n: number }).n;
  }

  /** Vectors already computed for these chunk texts, keyed by text hash. */
  async vectorsByTextHash(
    hashes: string[],
    pause: () => Promise<void> = async () => undefined,
  ): Promise<Map<string, Float32Array>> {
    const found = new Map<string, Float32Array>();
    this.vectorByTextHash ??= this.db
      .prepare('SELECT vector FROM chunks WHERE text_hash = ? LIMIT 1')
      .pluck();
    let looked = 0;
    for (const hash of new Set(hashes)) {
      const vector = this.vectorByTextHash.get(hash) as Buffer | null | undefined;
      if (vector) found.set(hash, new Float32Array(new Uint8Array(vector).slice().buffer));
      if (++looked % 1000 === 0) await pause();
    }
    return found;
  }

  /** Labels of the chunks of these documents. */
  labelsOfDocuments(ids: string[]): number[] {
    const statement = this.db.prepare('SELECT label FROM chunks WHERE doc_id = ?').pluck();
    return ids.flatMap((id) => statement.all(id) as number[]);
  }

  nextLabel(): number {
    const max = (this.db.prepare('SELECT MAX(label) AS m FROM chunks').get() as { m: number | null }).m;
    const stored = Number(this.getMeta().nextLabel ?? 0);
    return Math.max(stored, (max ?? -1) + 1);
  }

  /**
   * Applies a corpus change atomically, in one transaction. Between batches of rows it awaits `pause`, so a large
   * change does not hold the event loop for its whole duration; the transaction stays open across the pauses (the
   * store serialises its writers, and queries read memory, not this connection), and a failure rolls it back.
   */
  async apply(
    change: CorpusChange,
    pause: () => Promise<void> = async () => undefined,
    rowsPerPause = 2000,
  ): Promise<void> {
    const writer = prepareWriter(this.db);
    let rows = 0;
    const counted = async (n: number) => {
      rows += n;
      if (rows >= rowsPerPause) {
        rows = 0;
        await pause();
      }
    };
    this.db.exec('BEGIN IMMEDIATE');
    try {
      for (const id of change.removeDocumentIds) {
        writer.remove([id]);
        await counted(1);
      }
      for (const upsert of change.upsertDocuments) {
        writer.upsert([{ document: toDocumentInsert(upsert.document), chunks: upsert.chunks }]);
        await counted(1 + upsert.chunks.length);
      }
      writer.setMeta(change.meta);
      this.db.exec('COMMIT');
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw err;
    }
  }

  /** Removes every document and chunk (used when the embedder or chunker changed and everything is re-embedded). */
  clear(meta: Record<string, string>): void {
    this.db.transaction(() => {
      this.db.exec('DELETE FROM chunks; DELETE FROM documents; DELETE FROM meta;');
      const setMeta = this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
      for (const [key, value] of Object.entries(meta)) setMeta.run(key, value);
    })();
  }
}
