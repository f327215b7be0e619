import type { ChunkRecord, RetrievedChunk } from '../types.js';

/**
 * The two searches hybrid retrieval fuses. {@link HnswVectorStore} provides both; its vector search may run in
 * worker threads, hence the promise.
 */
export interface SearchableIndex {
  vectorSearch(
    query: number[],
    k: number,
  ): Promise<{ record: ChunkRecord; score: number }[]> | { record: ChunkRecord; score: number }[];
  lexicalSearch(query: string, k: number): { record: ChunkRecord; score: number }[];
}

/** Tuning of {@link retrieve}. */
export interface RetrievalOptions {
  /** Passages returned. */
  k: number;
  /** Candidates taken from each search before fusion. */
  candidates?: number;
  /** Reciprocal rank fusion constant: larger flattens the rank curve. */
  rrfK?: number;
}

/**
 * Hybrid retrieval: nearest chunks by embedding and best chunks by BM25, fused with reciprocal rank fusion. The
 * same chunk found by both is merged; chunks with identical text (an article stored twice) are merged too, the
 * better-ranked one kept.
 */
export async function retrieve(
  index: SearchableIndex,
  question: string,
  queryVector: number[],
  options: RetrievalOptions,
): Promise<RetrievedChunk[]> {
  const candidates = options.candidates ?? Math.max(20, options.k * 4);
  const rrfK = options.rrfK ?? 60;
  const fused = new Map<string, RetrievedChunk>();
  const add = (hits: { record: ChunkRecord; score: number }[], field: 'vectorScore' | 'lexicalScore') => {
    hits.forEach(({ record, score }, rank) => {
      const entry = fused.get(record.id) ?? { chunk: record, score: 0 };
      entry.score += 1 / (rrfK + rank + 1);
      entry[field] = score;
      fused.set(record.id, entry);
    });
  };
  const vector = index.vectorSearch(queryVector, candidates);
  const lexical = index.lexicalSearch(question, candidates);
  add(await vector, 'vectorScore');
  add(lexical, 'lexicalScore');

  const byText = new Map<string, RetrievedChunk>();
  for (const entry of [...fused.values()].sort((a, b) => b.score - a.score)) {
    if (byText.size === options.k) break;
    const key = entry.chunk.text.replace(/\s+/g, ' ').trim();
    if (!byText.has(key)) byText.set(key, entry);
  }
  return [...byText.values()];
}

/**
 * Fuses several retrievals of the same question (for example the question and its translation into the corpus
 * language) by reciprocal rank fusion over their rankings.
 */
export function fuseRetrievals(
  lists: readonly (readonly RetrievedChunk[])[],
  k: number,
  rrfK = 60,
): RetrievedChunk[] {
  const fused = new Map<string, RetrievedChunk>();
  for (const list of lists) {
    list.forEach((entry, rank) => {
      const existing = fused.get(entry.chunk.id);
      const score = 1 / (rrfK + rank + 1);
      if (existing) {
        existing.score += score;
        if (entry.vectorScore !== undefined)
          existing.vectorScore = Math.max(existing.vectorScore ?? entry.vectorScore, entry.vectorScore);
        if (entry.lexicalScore !== undefined)
          existing.lexicalScore = Math.max(existing.lexicalScore ?? entry.lexicalScore, entry.lexicalScore);
      } else fused.set(entry.chunk.id, { ...entry, score });
    });
  }
  return [...fused.values()].sort((a, b) => b.score - a.score).slice(0, k);
}
