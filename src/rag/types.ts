/**
 * Shared data shapes of the question-answering core. Everything here is plain data, so that the store can
 * persist it and the adapters (Discord, CLI) can render it without knowing how it was produced.
 */

/** The language of a question or a document. The core answers in French or English. */
export type Language = 'fr' | 'en';

/** One article of the corpus, after loading and normalisation. */
export interface SourceDocument {
  /** Stable id: the front matter `id`, else derived from the file name (lowercase, `[a-z0-9-]`). */
  id: string;
  title: string;
  /** ISO 639-1 code from front matter, else detected from the text. */
  language: string;
  /** Publication or outlet name; empty when unknown. */
  source: string;
  /** Link to the original article; empty when unknown. */
  url: string;
  /** Publication date as written in front matter (ideally ISO 8601); empty when unknown. */
  date: string;
  /**
   * The normalised text (Unicode NFC, whitespace collapsed inside paragraphs, paragraphs separated by one blank
   * line). The article's typography (’ « » –) is kept. All offsets in the core point into this string.
   */
  text: string;
  /** SHA-256 (hex) of the normalised text and metadata: the key for incremental indexing. */
  contentHash: string;
  /** Path of the source file relative to the corpus directory. */
  path: string;
}

/** A file of the corpus that could not be loaded. It is skipped; the others are still indexed. */
export interface LoadFailure {
  /** Path relative to the corpus directory. */
  file: string;
  reason: string;
}

/** Result of reading a corpus directory. */
export interface CorpusLoadResult {
  documents: SourceDocument[];
  failures: LoadFailure[];
}

/** A sentence of a document with its span in the document's normalised text: `text === doc.text.slice(start, end)`. */
export interface Sentence {
  index: number;
  start: number;
  end: number;
  text: string;
}

/** A retrievable passage: a few consecutive sentences. `text === doc.text.slice(start, end)`. */
export interface Chunk {
  /** `${docId}#${index}` */
  id: string;
  docId: string;
  index: number;
  start: number;
  end: number;
  text: string;
  /** Index of the first sentence of the chunk in the document's sentence list. */
  firstSentence: number;
  /** Index of the last sentence (inclusive). */
  lastSentence: number;
}

/** A chunk with the document metadata needed to cite it. */
export interface ChunkRecord extends Chunk {
  title: string;
  url: string;
  source: string;
  date: string;
  language: string;
}

/** A retrieved passage with its fused score and the scores that produced it. */
export interface RetrievedChunk {
  chunk: ChunkRecord;
  /** Fused score (reciprocal rank fusion), higher is better. */
  score: number;
  /** Cosine similarity with the question, when the vector search found the chunk. */
  vectorScore?: number;
  /** BM25 score, when the lexical search found the chunk. */
  lexicalScore?: number;
}
