import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import type { Logger } from '../logger.js';
import { complete, answerWithLlm, type ChatModel } from './answer/llm.js';
import {
  fallbackNote,
  framingLine,
  llmFramingLine,
  noAnswerMessage,
  rejectionMessage,
  type FallbackReason,
} from './answer/messages.js';
import { buildRewritePrompt, buildTranslatePrompt } from './answer/prompt.js';
import { describeLlmError } from './llm/chat-model.js';
import { expectedAnswer } from './answer/question-type.js';
import { scoreSentences, selectQuotes, type ExtractiveOptions } from './answer/extractive.js';
import type { Answer, AskResult, NoAnswer, PartialAnswer, Quote, SourceRef } from './answer/types.js';
import { verifyQuotes } from './answer/verify.js';
import {
  deriveDocumentId,
  downloadLimited,
  formatBytes,
  loadCorpus,
  parseDocument,
  sniffUpload,
  type CorpusReader,
  type ParseCache,
} from './corpus/index.js';
import { createUrlGuard } from './corpus/url-guard.js';
import type { VerbatimEmbeddings } from './embeddings/types.js';
import { fuseRetrievals, retrieve } from './retrieval/hybrid.js';
import type { HnswVectorStore, SyncProgress, SyncReport } from './store/vector-store.js';
import type { StoredDocument } from './store/database.js';
import { newestDocuments } from './store/sorted-documents.js';
import { detectLanguage } from './text/language.js';
import { createPacer } from './pacing.js';
import type { Language, LoadFailure, SourceDocument } from './types.js';

export type {
  AskResult,
  Answer,
  NoAnswer,
  PartialAnswer,
  Rejected,
  Quote,
  SourceRef,
} from './answer/types.js';
export type { ChatModel } from './answer/llm.js';
export type { SyncProgress, SyncReport } from './store/vector-store.js';
export type { Language } from './types.js';
export type { StoredDocument } from './store/database.js';

/** Tuning of question answering and corpus operations. */
export interface QaOptions {
  corpusDir: string;
  maxQuestionLength: number;
  topK: number;
  extractive: ExtractiveOptions;
  /** Largest article file or web page accepted by {@link QaService.addDocument} and {@link QaService.addFromUrl}. */
  maxUploadBytes: number;
  fetchTimeoutMs: number;
  /**
   * IP addresses or CIDR ranges that {@link QaService.addFromUrl} may fetch from although they are loopback, private
   * or link-local. Empty or absent: public addresses only.
   */
  urlFetchAllowedNetworks?: readonly string[];
  /** Time allowed to each LLM call (answer, rewrite, translation). */
  llmTimeoutMs?: number;
}

/** Collaborators of the service. */
export interface QaServiceDeps {
  store: HnswVectorStore;
  embeddings: VerbatimEmbeddings;
  logger: Logger;
  options: QaOptions;
  /** Used to fetch web pages for {@link QaService.addFromUrl}; defaults to the global fetch. */
  fetch?: typeof fetch;
  /** When given, answers are written by this model from the passages, with verified quotes; else extractive. */
  chatModel?: ChatModel;
  /** Reads large corpora off the event loop (see {@link CorpusReaderPool}); without it, files are read here. */
  corpusReader?: CorpusReader;
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
export type RemoveResult =
  { kind: 'removed'; document: DocumentSummary; movedTo: string } | { kind: 'not_found'; id: string };

/** Options of {@link QaService.ask}. */
export interface AskOptions {
  /** The asker's language when known (e.g. a Discord locale); a question clearly in the other language wins. */
  language?: Language;
  /** Earlier questions of the same conversation, oldest first, to resolve follow-ups such as « et Amazon ? ». */
  context?: readonly string[];
  /** LLM answers only: receives the verified claims so far while the answer streams. */
  onProgress?: (partial: PartialAnswer) => void;
}

/** The one port the adapters (CLI, Discord) use: questions in, quoted answers out, plus corpus operations. */
export interface QaService {
  ask(question: string, options?: AskOptions): Promise<AskResult>;
  /** Served documents sorted by id: all of them, or `limit` of them from position `offset`. */
  listDocuments(range?: { offset: number; limit: number }): DocumentSummary[];
  /** Number of served documents. */
  readonly documentCount: number;
  /**
   * The first `limit` served documents by id whose id or title contains `text`, ignoring case: a scan of the
   * store's sorted list that stops at `limit`, cheap enough for autocompletion on every keystroke.
   */
  findDocuments(text: string, limit: number): DocumentSummary[];
  getDocument(id: string): StoredDocument | undefined;
  /** Re-reads the corpus directory and updates the index incrementally. */
  refresh(onProgress?: (p: SyncProgress) => void): Promise<RefreshResult>;
  /**
   * Validates an uploaded file (type sniffed from its bytes, UTF-8 checked, size capped), saves it in the corpus
   * directory under a safe generated name, and indexes it. Nothing is saved when validation or indexing fails.
   */
  addDocument(file: { fileName: string; content: Buffer }): Promise<AddResult>;
  /** Downloads a web page (or text file), extracts its article text, and adds it like {@link addDocument}. */
  addFromUrl(url: string): Promise<AddResult>;
  /** Moves a document's file aside (recoverable) and removes it from the index. */
  removeDocument(id: string): Promise<RemoveResult>;
  /** Version of the corpus currently served. */
  readonly corpusVersion: string;
}

function summarize(doc: StoredDocument, chunks: number): DocumentSummary {
  return {
    id: doc.id,
    title: doc.title,
    language: doc.language,
    source: doc.source,
    url: doc.url,
    date: doc.date,
    size: doc.size,
    chunks,
    indexedAt: doc.indexedAt,
    path: doc.path,
  };
}

/** Articles named when a question is not in the sources; a larger corpus is summarised with a count. */
const COVERAGE_TITLES = 8;

const FOLLOW_UP_START =
  /^(?:et|mais|aussi|alors|and|but|also|so|what about|how about|et pour|et quant à|quant à|pourquoi ça|why)(?![\p{L}\p{N}])/iu;

/**
 * Whether a question leans on the previous turns (« et Amazon ? », "what about Google?"): it starts with a
 * connector, or is too short to stand alone. Only then is the conversation's context added to the search.
 */
export function isFollowUp(question: string): boolean {
  const words = question.split(/[^\p{L}\p{N}]+/u).filter(Boolean);
  return FOLLOW_UP_START.test(question.trim()) || words.length <= 2;
}

function withCanonicalLink(html: string, url: string): string {
  const link = `<link rel="canonical" href="${url.replace(/&/g, '&amp;').replace(/"/g, '&quot;')}">`;
  return /<head[^>]*>/i.test(html)
    ? html.replace(/<head[^>]*>/i, (head) => `${head}${link}`)
    : `${link}${html}`;
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

  const summaries = (docs: readonly StoredDocument[]): DocumentSummary[] =>
    docs.map((d) => summarize(d, store.chunksOf(d.id)));

  const listDocuments = (range?: { offset: number; limit: number }): DocumentSummary[] => {
    if (!range) return summaries(store.sortedDocuments());
    const offset = Math.max(0, range.offset);
    return summaries(store.sortedDocuments().slice(offset, offset + Math.max(0, range.limit)));
  };

  const findDocuments = (text: string, limit: number): DocumentSummary[] => {
    const wanted = new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'iu');
    const found: StoredDocument[] = [];
    for (const d of store.sortedDocuments()) {
      if (found.length >= limit) break;
      if (wanted.test(d.id) || wanted.test(d.title)) found.push(d);
    }
    return summaries(found);
  };

  /** What the corpus covers, for "not in the sources": the most recent articles, computed once per corpus version. */
  let covered: { version: string; titles: { docId: string; title: string }[]; total: number } | undefined;
  const coverage = () => {
    if (covered?.version !== store.corpusVersion) {
      const recent = newestDocuments(store.documents(), COVERAGE_TITLES);
      covered = {
        version: store.corpusVersion,
        titles: recent.map((d) => ({ docId: d.id, title: d.title })),
        total: store.documentCount,
      };
    }
    return covered;
  };

  const llmTimeoutMs = options.llmTimeoutMs ?? 30_000;
  const parseCache: ParseCache = new Map();
  const { chatModel } = deps;

  const sourcesOf = (quotes: readonly Quote[]): SourceRef[] => {
    const sources: SourceRef[] = [];
    for (const q of quotes) {
      if (sources.some((s) => s.docId === q.docId)) continue;
      const doc = store.getDocument(q.docId);
      sources.push({
        docId: q.docId,
        title: q.title,
        url: q.url,
        source: doc?.source ?? '',
        date: doc?.date ?? '',
      });
    }
    return sources;
  };

  let dominant: { version: string; language: string } | undefined;
  const corpusLanguage = (): string => {
    if (dominant?.version !== store.corpusVersion) {
      const counts = new Map<string, number>();
      for (const d of store.documents()) counts.set(d.language, (counts.get(d.language) ?? 0) + 1);
      const language =
        [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]?.[0] ?? 'fr';
      dominant = { version: store.corpusVersion, language };
    }
    return dominant.language;
  };

  /** The text to search with: a follow-up is made standalone (by the LLM when there is one). */
  async function searchTextFor(
    question: string,
    context: readonly string[],
    answerId: string,
  ): Promise<string> {
    if (context.length === 0 || !isFollowUp(question)) return question;
    if (chatModel) {
      try {
        const rewritten = await complete(chatModel, buildRewritePrompt(question, context), llmTimeoutMs);
        if (rewritten !== '' && rewritten.length <= options.maxQuestionLength * 2) return rewritten;
      } catch (err) {
        logger.warn(
          { answerId, ...describeLlmError(err) },
          'follow-up rewrite failed: searching with the conversation instead',
        );
      }
    }
    return [...context, question].join('\n');
  }

  async function search(searchText: string, questionLanguage: Language | undefined, answerId: string) {
    const queryVector = await embeddings.embedQuery(searchText);
    const retrieved = await retrieve(store, searchText, queryVector, { k: options.topK });
    if (!chatModel || !questionLanguage) return { queryVector, retrieved };
    // Only a translation needs the corpus's language: counting it reads every document (tens of ms at 125k).
    const target = corpusLanguage();
    if (questionLanguage === target || (target !== 'fr' && target !== 'en'))
      return { queryVector, retrieved };
    try {
      const translated = await complete(chatModel, buildTranslatePrompt(searchText, target), llmTimeoutMs);
      if (translated === '') return { queryVector, retrieved };
      const second = await retrieve(store, translated, await embeddings.embedQuery(translated), {
        k: options.topK,
      });
      return { queryVector, retrieved: fuseRetrievals([retrieved, second], options.topK) };
    } catch (err) {
      logger.warn(
        { answerId, ...describeLlmError(err) },
        'query translation failed: searching with the question only',
      );
      return { queryVector, retrieved };
    }
  }

  async function ask(question: string, askOptions: AskOptions = {}): Promise<AskResult> {
    const trimmed = question.replace(/[\p{Cc}\p{Cf}]+/gu, ' ').trim();
    const detected = detectLanguage(trimmed);
    const language = detected ?? askOptions.language ?? 'fr';
    if (trimmed === '')
      return { kind: 'rejected', reason: 'empty', message: rejectionMessage(language, 'empty') };
    if (trimmed.length > options.maxQuestionLength) {
      return {
        kind: 'rejected',
        reason: 'too_long',
        limit: options.maxQuestionLength,
        message: rejectionMessage(language, 'too_long', options.maxQuestionLength),
      };
    }
    if (store.chunkCount === 0)
      return {
        kind: 'rejected',
        reason: 'corpus_empty',
        message: rejectionMessage(language, 'corpus_empty'),
      };

    const corpusVersion = store.corpusVersion;
    const id = randomUUID();
    const searchText = await searchTextFor(trimmed, askOptions.context ?? [], id);
    const { queryVector, retrieved } = await search(searchText, detected ?? askOptions.language, id);
    const getDocument = (docId: string) => store.getDocument(docId);
    const scored = await scoreSentences(searchText, queryVector, retrieved, getDocument, embeddings);
    const selected = selectQuotes(scored, expectedAnswer(trimmed), options.extractive, getDocument);
    const quotes = verifyQuotes(selected, getDocument, logger);
    logger.debug(
      { answerId: id, retrieved: retrieved.length, best: scored[0]?.score, selected: selected.length },
      'question answered',
    );
    const noAnswer = (): NoAnswer => {
      const cover = coverage();
      return {
        kind: 'no_answer',
        id,
        language,
        message: noAnswerMessage(
          language,
          cover.titles.map((c) => c.title),
          cover.total,
        ),
        coverage: cover.titles,
        corpusVersion,
      };
    };
    const extractive = (note?: string): AskResult => {
      if (quotes.length === 0) return noAnswer();
      const sources = sourcesOf(quotes);
      const answer: Answer = {
        kind: 'answer',
        id,
        language,
        framing: framingLine(
          language,
          quotes.length,
          sources.map((s) => store.getDocument(s.docId)?.language ?? language),
        ),
        quotes,
        sources,
        corpusVersion,
        answerer: 'extractive',
      };
      return note ? { ...answer, note } : answer;
    };
    if (!chatModel || retrieved.length === 0) return extractive();

    const standalone = searchText.includes('\n') ? trimmed : searchText;
    const outcome = await answerWithLlm(chatModel, standalone, language, retrieved, {
      timeoutMs: llmTimeoutMs,
      ...(askOptions.onProgress
        ? {
            onProgress: (partial) =>
              askOptions.onProgress?.({ language, framing: llmFramingLine(language), ...partial }),
          }
        : {}),
    });
    const fallback = (reason: FallbackReason) => extractive(fallbackNote(language, reason));
    switch (outcome.kind) {
      case 'failed': {
        const described = describeLlmError(outcome.error);
        logger.warn(
          { answerId: id, code: described.code, reason: described.message },
          'LLM answer failed: extractive answer shown',
        );
        return fallback(described.code);
      }
      case 'declined':
        logger.info({ answerId: id, ...outcome.stats }, 'LLM found no answer in the passages');
        return noAnswer();
      case 'unverified':
        logger.warn(
          {
            answerId: id,
            citationPrecision: outcome.precision,
            ...outcome.stats,
            output: outcome.output.slice(0, 500),
          },
          'no LLM claim could be verified: extractive answer shown',
        );
        return fallback(
          outcome.stats.produced === 0 && outcome.output.trim() !== '' ? 'LLM_BAD_OUTPUT' : 'UNVERIFIED',
        );
      case 'answered': {
        logger.info(
          { answerId: id, citationPrecision: outcome.precision, ...outcome.stats },
          'LLM answer verified',
        );
        return {
          kind: 'answer',
          id,
          language,
          framing: llmFramingLine(language),
          quotes: outcome.quotes,
          sources: sourcesOf(outcome.quotes),
          corpusVersion,
          answerer: 'llm',
          claims: outcome.claims,
          citations: {
            produced: outcome.stats.produced,
            verified: outcome.stats.verified,
            repointed: outcome.stats.repointed,
            precision: outcome.precision,
          },
        };
      }
    }
  }

  async function refresh(onProgress?: (p: SyncProgress) => void): Promise<RefreshResult> {
    return exclusive(async () => {
      const byPath = new Map<string, StoredDocument>();
      const pacer = createPacer();
      for (const d of store.documents()) {
        byPath.set(d.path, d);
        const pause = pacer.tick();
        if (pause) await pause;
      }
      const { documents, failures } = await loadCorpus(options.corpusDir, {
        logger,
        cache: parseCache,
        indexed: (file) => byPath.get(file),
        ...(deps.corpusReader ? { reader: deps.corpusReader } : {}),
      });
      // Not held while the change is indexed.
      byPath.clear();
      let kept: StoredDocument[] = [];
      if (failures.length > 0) {
        const failedPaths = new Set(failures.map((f) => f.file));
        const loadedIds = new Set(documents.map((d) => d.id));
        for (const d of store.documents()) if (failedPaths.has(d.path) && !loadedIds.has(d.id)) kept.push(d);
        kept.sort((a, b) => (a.id < b.id ? -1 : 1));
      }
      for (const doc of kept)
        logger.warn(
          { docId: doc.id, file: doc.path },
          'file unreadable: keeping the previously indexed version',
        );
      const all: SourceDocument[] = [...documents, ...kept];
      if (all.length === 0) {
        return {
          kind: 'corpus_empty',
          failures,
          message: `No document to index in ${options.corpusDir}: add .md, .txt or .html articles there.`,
        };
      }
      const report = await store.sync(all, onProgress);
      logger.info(
        {
          added: report.added.length,
          changed: report.changed.length,
          removed: report.removed.length,
          unchanged: report.unchanged.length,
          durationMs: report.durationMs,
        },
        'corpus refreshed',
      );
      return { kind: 'refreshed', failures, kept: kept.map((d) => d.id), ...report };
    });
  }

  /** Whether writing `name` would overwrite the file of another document, or a file the index does not hold. */
  const fileTaken = (name: string, ownerId: string): boolean => {
    for (const d of store.documents()) if (d.path === name) return d.id !== ownerId;
    return existsSync(join(options.corpusDir, name));
  };
  /** `id`, or `id-2`, `id-3`, ... : the first that names neither a stored document nor an existing file. */
  const uniqueId = (id: string, extension: string) => {
    let candidate = id;
    for (let n = 2; store.getDocument(candidate) || fileTaken(`${candidate}${extension}`, candidate); n += 1)
      candidate = `${id}-${n}`;
    return candidate;
  };
  /** The file of a document: its current one when it is replaced, else a name no other file has. */
  const fileNameFor = (id: string, extension: string) => {
    const current = store.getDocument(id)?.path;
    if (current) return current;
    let name = `${id}${extension}`;
    for (let n = 2; fileTaken(name, id); n += 1) name = `${id}-${n}${extension}`;
    return name;
  };

  async function addDocument(
    file: { fileName: string; content: Buffer },
    sourceUrl?: string,
  ): Promise<AddResult> {
    if (file.content.byteLength > options.maxUploadBytes)
      return { kind: 'invalid', reason: `larger than the ${formatBytes(options.maxUploadBytes)} limit` };
    const sniffed = sniffUpload(file.fileName, file.content);
    if (!sniffed.ok) return { kind: 'invalid', reason: sniffed.reason };
    let content = file.content;
    if (
      sourceUrl &&
      sniffed.kind === '.html' &&
      !/<link[^>]+rel=["']?canonical/i.test(content.toString('utf8'))
    ) {
      content = Buffer.from(withCanonicalLink(content.toString('utf8'), sourceUrl), 'utf8');
    }
    const derivedId = deriveDocumentId(basename(file.fileName.replaceAll('\\', '/')));
    return exclusive(async () => {
      const first = parseDocument({ fileName: `${derivedId}${sniffed.kind}`, content });
      if (!first.ok) return { kind: 'invalid', reason: first.reason };
      const explicitId = first.document.id !== derivedId;
      const id = explicitId ? first.document.id : uniqueId(derivedId, sniffed.kind);
      const fileName = fileNameFor(id, sniffed.kind);
      const parsed = id === derivedId ? first : parseDocument({ fileName, content });
      if (!parsed.ok) return { kind: 'invalid', reason: parsed.reason };
      const document = { ...parsed.document, path: fileName };
      const replaced = store.getDocument(document.id) !== undefined;
      await mkdir(options.corpusDir, { recursive: true });
      const temporary = join(options.corpusDir, `.${fileName}.${randomUUID()}.tmp`);
      await writeFile(temporary, content);
      try {
        const report = await store.upsert([document]);
        await rename(temporary, join(options.corpusDir, fileName));
        const doc = store.getDocument(document.id) as StoredDocument;
        logger.info({ docId: doc.id, file: fileName, replaced }, 'document added');
        return { kind: 'added', document: summarize(doc, store.chunksOf(doc.id)), replaced, report };
      } catch (err) {
        await rm(temporary, { force: true });
        throw err;
      }
    });
  }

  const urlGuard = createUrlGuard({ allowedNetworks: options.urlFetchAllowedNetworks ?? [] });

  async function addFromUrl(url: string): Promise<AddResult> {
    const download = await downloadLimited(url, {
      fetch: deps.fetch ?? fetch,
      maxBytes: options.maxUploadBytes,
      timeoutMs: options.fetchTimeoutMs,
      guard: urlGuard,
    });
    if (!download.ok) return { kind: 'invalid', reason: download.reason };
    const finalUrl = new URL(download.finalUrl);
    const name = finalUrl.pathname.split('/').filter(Boolean).pop() ?? '';
    const id = deriveDocumentId(name.replace(/\.[a-z0-9]+$/i, ''));
    const fileName = id.startsWith('doc-') || id.length > 100 ? `${finalUrl.hostname}.html` : name;
    return addDocument({ fileName, content: download.bytes }, download.finalUrl);
  }

  async function removeDocument(id: string): Promise<RemoveResult> {
    return exclusive(async () => {
      const doc = store.getDocument(id);
      if (!doc) return { kind: 'not_found', id };
      const summary = summarize(doc, store.chunksOf(id));
      const removedDir = join(options.corpusDir, '.removed');
      await mkdir(removedDir, { recursive: true });
      const movedTo = join(
        removedDir,
        `${new Date().toISOString().replace(/[:.]/g, '-')}-${basename(doc.path || `${id}.md`)}`,
      );
      let moved = false;
      if (doc.path) {
        try {
          await rename(join(options.corpusDir, doc.path), movedTo);
          moved = true;
        } catch (err) {
          logger.warn(
            { err, docId: id },
            'document file not found in the corpus directory; removing it from the index only',
          );
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
    findDocuments,
    get documentCount() {
      return store.documentCount;
    },
    getDocument: (id) => store.getDocument(id),
    refresh,
    addDocument: (file) => addDocument(file),
    addFromUrl,
    removeDocument,
    get corpusVersion() {
      return store.corpusVersion;
    },
  };
}
