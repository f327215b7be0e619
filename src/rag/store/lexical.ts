import MiniSearch from 'minisearch';
import { analyze } from '../text/tokenize.js';

/** A BM25 hit: the chunk label and its score. */
export interface LexicalHit {
  label: number;
  score: number;
}

/**
 * BM25 over chunk texts (MiniSearch), keyed by the same labels as the vector index. Terms go through the same
 * analyser as the embeddings (accent folding, French elisions, stemming), so « enquête » matches « enquêtes ».
 */
export class LexicalIndex {
  private readonly search = new MiniSearch<{ id: number; text: string }>({
    fields: ['text'],
    tokenize: (text) => analyze(text),
    processTerm: (term) => term,
    searchOptions: { combineWith: 'OR', fuzzy: (term) => (term.length >= 7 ? 0.15 : false) },
  });

  add(label: number, text: string): void {
    this.search.add({ id: label, text });
  }

  remove(label: number): void {
    if (this.search.has(label)) this.search.discard(label);
  }

  get size(): number {
    return this.search.documentCount;
  }

  /** The best `k` chunks among those `visible` accepts. */
  query(text: string, k: number, visible: (label: number) => boolean): LexicalHit[] {
    if (analyze(text).length === 0) return [];
    return this.search
      .search(text, { filter: (r) => visible(r.id as number) })
      .slice(0, k)
      .map((r) => ({ label: r.id as number, score: r.score }));
  }
}
