import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import type { Logger } from '../logger.js';
import { framingLine, noAnswerMessage, rejectionMessage } from './answer/messages.js';
import { expectedAnswer } from './answer/question-type.js';
import { scoreSentences, selectQuotes, type ExtractiveOptions } from './answer/extractive.js';
import type { AskResult, SourceRef } from './answer/types.js';
import { verifyQuotes } from './answer/verify.js';
import { loadCorpus, parseDocument } from './corpus/index.js';
import type { VerbatimEmbeddings } from './embeddings/types.js';
import { retrieve } from './retrieval/hybrid.js';
import type { HnswVectorStore, SyncProgress, SyncReport } from './store/vector-store.js';
import type { StoredDocument } from './store/database.js';
import { detectLanguage } from './text/language.js';
import type { Language, LoadFailure, SourceDocument } from './types.js';

export type { AskResult, Answer, NoAnswer, Rejected, Quote, SourceRef } from './answer/types.js';
export type { SyncProgress, SyncReport } from './store/vector-store.js';
export type { StoredDocument } from './store/database.js';

/** Tuning of question answering. */
export interface QaOptions {
  corpusDir: string;
  maxQuestionLength: number;
  topK: number;
  extractive: ExtractiveOptions;
}

/** Collaborators of the service. */
export interface QaServiceDeps {
  store: HnswVectorStore;
  embeddings: VerbatimEmbeddings;
  logger: Logger;
  options: QaOptions;
}

/** A document as listed to users and moderators. */
export interface DocumentSummary {
  id: string;
  title: string;
  language: string;
  source: string;
  url: string;
  date: string;
  /** Characters of normalised text. */
  size: number;
  chunks: number;
  indexedAt: string;
  path: string;
}

/** Outcome of a corpus refresh. */
export type RefreshResult =
  | ({ kind: 'refreshed'; failures: LoadFailure[]; kept: string[] } & SyncReport)
  | { kind: 'corpus_empty'; message: string; failures: LoadFailure[] };

/** Outcome of adding one document. */
export type AddResult =
  | { kind: 'added'; document: DocumentSummary; replaced: boolean; report: SyncReport }
  | { kind: 'invalid'; reason: string };

/** Outcome of removing one document. */
export type RemoveResult = { kind: 'removed'; document: DocumentSummary; movedTo: string } | { kind: 'not_found'; id: string };

/** Options of {@link QaService.ask}. */
export interface AskOptions {
  /** The asker's language when known (e.g. a Discord locale); a question clearly in the other language wins. */
  language?: Language;
  /** Earlier questions of the same conversation, oldest first, to resolve follow-ups such as « et Amazon ? ». */
  context?: readonly string[];
}

/** The one port the adapters (CLI, Discord) use: questions in, quoted answers out, plus corpus operations. */
export interface QaService {
  ask(question: string, options?: AskOptions): Promise<AskResult>;
  listDocuments(): DocumentSummary[];
  getDocument(id: string): StoredDocument | undefined;
  /** Re-reads the corpus directory and updates the index incrementally. */
  refresh(onProgress?: (p: SyncProgress) => void): Promise<RefreshResult>;
  /** Validates a file, saves it in the corpus directory under a safe generated name, and indexes it. */
  addDocument(file: { fileName: string; content: Buffer | string }): Promise<AddResult>;
  /** Moves a document's file aside (recoverable) and removes it from the index. */
  removeDocument(id: string): Promise<RemoveResult>;
  /** Version of the corpus currently served. */
  readonly corpusVersion: string;
}

function summarize(doc: StoredDocument, chunks: number): DocumentSummary {
  const { text: _text, sentences: _sentences, contentHash: _hash, ...rest } = doc;
  return { ...rest, chunks };
}

/** Builds the question-answering service over an opened store. */
export function createQaService(deps: QaServiceDeps): QaService {
  const { store, embeddings, logger, options } = deps;
  let corpusLock: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(task: () => Promise<T>): Promise<T> => {
    const run = corpusLock.then(task, task);
    corpusLock = run.catch(() => undefined);
    return run;
  };

  const listDocuments = (): DocumentSummary[] => store.listDocuments().map((d) => summarize(d, store.chunksOf(d.id)));

  const coverage = () => store.listDocuments().map((d) => ({ docId: d.id, title: d.title }));

  async function ask(question: string, askOptions: AskOptions = {}): Promise<AskResult> {
    const trimmed = question.replace(/[\p{Cc}\p{Cf}]+/gu, ' ').trim();
    const language = detectLanguage(trimmed) ?? askOptions.language ?? 'fr';
    if (trimmed === '') return { kind: 'rejected', reason: 'empty', message: rejectionMessage(language, 'empty') };
    if (trimmed.length > options.maxQuestionLength) {
      return { kind: 'rejected', reason: 'too_long', limit: options.maxQuestionLength, message: rejectionMessage(language, 'too_long', options.maxQuestionLength) };
    }
    if (store.chunkCount === 0) return { kind: 'rejected', reason: 'corpus_empty', message: rejectionMessage(language, 'corpus_empty') };

    const corpusVersion = store.corpusVersion;
    const id = randomUUID();
    const searchText = [...(askOptions.context ?? []), trimmed].join('\n');
    const queryVector = await embeddings.embedQuery(searchText);
    const retrieved = retrieve(store, searchText, queryVector, { k: options.topK });
    const getDocument = (docId: string) => store.getDocument(docId);
    const scored = await scoreSentences(searchText, queryVector, retrieved, getDocument, embeddings);
    const selected = selectQuotes(scored, expectedAnswer(trimmed), options.extractive, getDocument);
    const quotes = verifyQuotes(selected, getDocument, logger);
    logger.debug({ answerId: id, retrieved: retrieved.length, best: scored[0]?.score, selected: selected.length }, 'question answered');
    if (quotes.length === 0) {
      const cover = coverage();
      return { kind: 'no_answer', id, language, message: noAnswerMessage(language, cover.map((c) => c.title)), coverage: cover, corpusVersion };
    }
    const sources: SourceRef[] = [];
    for (const q of quotes) {
      if (sources.some((s) => s.docId === q.docId)) continue;
      const doc = store.getDocument(q.docId);
      sources.push({ docId: q.docId, title: q.title, url: q.url, source: doc?.source ?? '', date: doc?.date ?? '' });
    }
    const docLanguages = sources.map((s) => store.getDocument(s.docId)?.language ?? language);
    return {
      kind: 'answer',
      id,
      language,
      framing: framingLine(language, quotes.length, docLanguages),
      quotes,
      sources,
      corpusVersion,
      answerer: 'extractive',
    };
  }

  async function refresh(onProgress?: (p: SyncProgress) => void): Promise<RefreshResult> {
    return exclusive(async () => {
      const { documents, failures } = await loadCorpus(options.corpusDir, { logger });
      const failedPaths = new Set(failures.map((f) => f.file));
      const kept = store.listDocuments().filter((d) => failedPaths.has(d.path) && !documents.some((n) => n.id === d.id));
      for (const doc of kept) logger.warn({ docId: doc.id, file: doc.path }, 'file unreadable: keeping the previously indexed version');
      const all: SourceDocument[] = [...documents, ...kept];
      if (all.length === 0) {
        return {
          kind: 'corpus_empty',
          failures,
          message: `No document to index in ${options.corpusDir}: add .md, .txt or .html articles there.`,
        };
      }
      const report = await store.sync(all, onProgress);
      logger.info({ added: report.added.length, changed: report.changed.length, removed: report.removed.length, unchanged: report.unchanged.length, durationMs: report.durationMs }, 'corpus refreshed');
      return { kind: 'refreshed', failures, kept: kept.map((d) => d.id), ...report };
    });
  }

  async function addDocument(file: { fileName: string; content: Buffer | string }): Promise<AddResult> {
    return exclusive(async () => {
      const ext = extname(basename(file.fileName)).toLowerCase();
      const parsed = parseDocument({ fileName: basename(file.fileName), content: file.content });
      if (!parsed.ok) return { kind: 'invalid', reason: parsed.reason };
      const previous = store.getDocument(parsed.document.id);
      const fileName = previous?.path || `${parsed.document.id}${ext}`;
      const target = join(options.corpusDir, fileName);
      const temporary = join(options.corpusDir, `.${fileName}.${randomUUID()}.tmp`);
      await mkdir(options.corpusDir, { recursive: true });
      await writeFile(temporary, file.content);
      try {
        const report = await store.upsert([{ ...parsed.document, path: fileName }]);
        await rename(temporary, target);
        const doc = store.getDocument(parsed.document.id) as StoredDocument;
        logger.info({ docId: doc.id, file: fileName, replaced: previous !== undefined }, 'document added');
        return { kind: 'added', document: summarize(doc, store.chunksOf(doc.id)), replaced: previous !== undefined, report };
      } catch (err) {
        await rm(temporary, { force: true });
        throw err;
      }
    });
  }

  async function removeDocument(id: string): Promise<RemoveResult> {
    return exclusive(async () => {
      const doc = store.getDocument(id);
      if (!doc) return { kind: 'not_found', id };
      const summary = summarize(doc, store.chunksOf(id));
      const removedDir = join(options.corpusDir, '.removed');
      await mkdir(removedDir, { recursive: true });
      const movedTo = join(removedDir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${basename(doc.path || `${id}.md`)}`);
      let moved = false;
      if (doc.path) {
        try {
          await rename(join(options.corpusDir, doc.path), movedTo);
          moved = true;
        } catch (err) {
          logger.warn({ err, docId: id }, 'document file not found in the corpus directory; removing it from the index only');
        }
      }
      try {
        await store.remove([id]);
      } catch (err) {
        if (moved) await rename(movedTo, join(options.corpusDir, doc.path));
        throw err;
      }
      logger.info({ docId: id, movedTo }, 'document removed');
      return { kind: 'removed', document: summary, movedTo };
    });
  }

  return {
    ask,
    listDocuments,
    getDocument: (id) => store.getDocument(id),
    refresh,
    addDocument,
    removeDocument,
    get corpusVersion() {
      return store.corpusVersion;
    },
  };
}
