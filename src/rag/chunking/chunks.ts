import type { Chunk, Sentence } from '../types.js';
import { splitSentences } from './sentences.js';

/** Version of the sentence splitter and chunker output. Bump it whenever chunk boundaries or texts can change. */
export const CHUNKER_VERSION = 'sentences-v1';

/** How a document is cut into chunks. */
export interface ChunkOptions {
  /** Sentences per chunk at most. Default 3. */
  sentencesPerChunk?: number;
  /** Sentences shared by consecutive chunks. Default 1; must be smaller than `sentencesPerChunk`. */
  overlap?: number;
  /**
   * A chunk stops growing before its span exceeds this many characters. It always has at least one sentence, so a
   * sentence longer than this is a chunk of its own. Default 1200.
   */
  maxChars?: number;
}

export const DEFAULT_CHUNK_OPTIONS: Readonly<Required<ChunkOptions>> = Object.freeze({
  sentencesPerChunk: 3,
  overlap: 1,
  maxChars: 1200,
});

function resolveOptions(options: ChunkOptions): Required<ChunkOptions> {
  const resolved = { ...DEFAULT_CHUNK_OPTIONS, ...options };
  const { sentencesPerChunk, overlap, maxChars } = resolved;
  if (!Number.isInteger(sentencesPerChunk) || sentencesPerChunk < 1) {
    throw new RangeError(`sentencesPerChunk must be an integer >= 1, got ${sentencesPerChunk}`);
  }
  if (!Number.isInteger(overlap) || overlap < 0 || overlap >= sentencesPerChunk) {
    throw new RangeError(`overlap must be an integer in [0, sentencesPerChunk), got ${overlap}`);
  }
  if (!Number.isInteger(maxChars) || maxChars < 1) {
    throw new RangeError(`maxChars must be an integer >= 1, got ${maxChars}`);
  }
  return resolved;
}

/**
 * Cuts a document into overlapping windows of consecutive sentences. Chunks may span paragraph breaks (the seed
 * article has one sentence per paragraph). Chunk `i` has id `${doc.id}#${i}`, offsets into `doc.text`, and
 * `text === doc.text.slice(start, end)`; every sentence belongs to at least one chunk, and each chunk starts after
 * the previous one.
 *
 * @throws RangeError when an option is out of range (a programming error, not a property of the document).
 */
export function chunkDocument(
  doc: { id: string; text: string; language?: string },
  options: ChunkOptions = {},
): { sentences: Sentence[]; chunks: Chunk[] } {
  const { sentencesPerChunk, overlap, maxChars } = resolveOptions(options);
  const sentences = splitSentences(doc.text, doc.language);
  const chunks: Chunk[] = [];
  let first = 0;
  while (first < sentences.length) {
    const head = sentences[first];
    if (!head) break;
    let last = first;
    while (last - first + 1 < sentencesPerChunk) {
      const candidate = sentences[last + 1];
      if (!candidate || candidate.end - head.start > maxChars) break;
      last += 1;
    }
    const tail = sentences[last] ?? head;
    const index = chunks.length;
    chunks.push({
      id: `${doc.id}#${index}`,
      docId: doc.id,
      index,
      start: head.start,
      end: tail.end,
      text: doc.text.slice(head.start, tail.end),
      firstSentence: first,
      lastSentence: last,
    });
    if (last === sentences.length - 1) break;
    first = Math.max(first + 1, last + 1 - overlap);
  }
  return { sentences, chunks };
}
