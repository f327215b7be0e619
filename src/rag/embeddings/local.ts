import { Embeddings, type EmbeddingsParams } from '@langchain/core/embeddings';
import type { Language } from '../types.js';
import { conceptsOf } from '../text/glossary.js';
import { forEachWord, isStopword, PREFIX_KEY_LENGTH, STOPWORDS, stem } from '../text/tokenize.js';
import type { VerbatimEmbeddings } from './types.js';

/**
 * Version of the feature set. Bump it whenever a feature, a weight, the tokenizer, the stopwords or the glossary
 * changes: it is part of {@link LocalHashEmbeddings.id}, so an index built with other features is detected instead
 * of silently queried. A test pins a fingerprint of the vectors to this version, so a forgotten bump fails CI.
 */
export const LOCAL_HASH_VERSION = 'local-hash-v1';

/** Default vector length when neither the caller nor the configuration says otherwise. */
export const DEFAULT_LOCAL_DIMENSIONS = 1024;

/**
 * Static weights of each feature family. They never depend on the corpus: a document's vector does not change when
 * other documents are added, which is what makes incremental indexing correct.
 */
const WEIGHT = {
  stem: 1.0,
  shortStem: 0.4,
  number: 0.8,
  prefix: 0.6,
  concept: 1.3,
  bigram: 0.5,
  ngram: [0, 0, 0, 0.12, 0.16, 0.2] as readonly number[],
  empty: 1.0,
} as const;

const NGRAM_MIN = 3;
const NGRAM_MAX = 5;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

const SEED = {
  stem: seedOf('s'),
  prefix: seedOf('p'),
  ngram: seedOf('n'),
  concept: seedOf('c'),
  bigram: seedOf('b'),
  empty: seedOf('e'),
} as const;

function seedOf(tag: string): number {
  return Math.imul(FNV_OFFSET ^ tag.charCodeAt(0), FNV_PRIME);
}

function hashRange(seed: number, s: string, start: number, end: number): number {
  let h = seed;
  for (let i = start; i < end; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return h;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Feature hash -> (weight, count), with scratch arrays reused across texts. */
class FeatureBag {
  private readonly slots = new Map<number, number>();
  private hashes = new Uint32Array(512);
  private weights = new Float32Array(512);
  private counts = new Float32Array(512);
  private size = 0;

  reset(): void {
    this.slots.clear();
    this.size = 0;
  }

  get isEmpty(): boolean {
    return this.size === 0;
  }

  add(rawHash: number, weight: number): void {
    const hash = fmix32(rawHash);
    const slot = this.slots.get(hash);
    if (slot !== undefined) {
      this.counts[slot]! += 1;
      if (weight > this.weights[slot]!) this.weights[slot] = weight;
      return;
    }
    if (this.size === this.hashes.length) this.grow();
    const next = this.size++;
    this.hashes[next] = hash;
    this.weights[next] = weight;
    this.counts[next] = 1;
    this.slots.set(hash, next);
  }

  project(dimensions: number): number[] {
    const vector = new Float32Array(dimensions);
    for (let i = 0; i < this.size; i++) {
      const hash = this.hashes[i]!;
      const sign = fmix32(hash ^ 0x9e3779b9) & 1 ? 1 : -1;
      vector[hash % dimensions]! += sign * this.weights[i]! * (1 + Math.log(this.counts[i]!));
    }
    let norm = 0;
    for (let i = 0; i < dimensions; i++) norm += vector[i]! * vector[i]!;
    norm = Math.sqrt(norm);
    const out = new Array<number>(dimensions);
    for (let i = 0; i < dimensions; i++) out[i] = norm > 0 ? vector[i]! / norm : 0;
    return out;
  }

  private grow(): void {
    const capacity = this.hashes.length * 2;
    const hashes = new Uint32Array(capacity);
    const weights = new Float32Array(capacity);
    const counts = new Float32Array(capacity);
    hashes.set(this.hashes);
    weights.set(this.weights);
    counts.set(this.counts);
    this.hashes = hashes;
    this.weights = weights;
    this.counts = counts;
  }
}

/** Options of {@link LocalHashEmbeddings}. */
export interface LocalHashEmbeddingsOptions extends EmbeddingsParams {
  /** Vector length; default {@link DEFAULT_LOCAL_DIMENSIONS} (the config key `LOCAL_EMBEDDINGS_DIMENSIONS`). */
  dimensions?: number;
}

/**
 * An embedder that needs no network and no model weights: feature hashing over stems, cognate prefixes, character
 * n-grams, bigrams and the bilingual concepts of the glossary, so that a French article and an English question
 * about it land close together. Deterministic, corpus-independent and fast; it is the default provider and the
 * embedder of the ranking tests.
 *
 * Features of each content word (stopwords are skipped): its French stem, its {@link PREFIX_KEY_LENGTH}-letter
 * prefix key, its character 3- to 5-grams with boundary markers, the glossary concepts it belongs to (looked up in
 * the language the text's function words point to, or both), and an unordered bigram with the next content word.
 * Each feature is hashed (FNV-1a, murmur3 finaliser) to a signed bucket and weighted by `(1 + ln tf) * w`, where `w`
 * is a static weight of its family; the vector is L2-normalised. A text without content words gets a fixed unit
 * vector rather than a zero vector, which cosine search cannot handle.
 */
export class LocalHashEmbeddings extends Embeddings implements VerbatimEmbeddings {
  readonly id: string;
  readonly dimensions: number;
  private readonly bag = new FeatureBag();
  private readonly words: string[] = [];
  private readonly folded: string[] = [];
  private readonly joined: boolean[] = [];

  constructor(options: LocalHashEmbeddingsOptions = {}) {
    const { dimensions = DEFAULT_LOCAL_DIMENSIONS, ...params } = options;
    super(params);
    if (!Number.isInteger(dimensions) || dimensions <= 0)
      throw new RangeError(`dimensions must be a positive integer, got ${dimensions}`);
    this.dimensions = dimensions;
    this.id = `${LOCAL_HASH_VERSION}:${dimensions}`;
  }

  override async embedDocuments(documents: string[]): Promise<number[][]> {
    return documents.map((d) => this.embed(d));
  }

  override async embedQuery(document: string): Promise<number[]> {
    return this.embed(document);
  }

  /** Synchronous embedding of one text; the async methods only wrap it. */
  embed(text: string): number[] {
    const bag = this.bag;
    bag.reset();
    this.collectWords(text);
    const langs = this.guessLanguages();
    let previousKey: string | undefined;
    for (let i = 0; i < this.words.length; i++) {
      const word = this.words[i]!;
      const folded = this.folded[i]!;
      const isJoined = this.joined[i]!;
      if (isStopword(folded)) {
        continue;
      }
      const first = folded.charCodeAt(0);
      const isNumber = first >= 48 && first <= 57;
      const s = stem(word, 'fr');
      const stemWeight = isNumber ? WEIGHT.number : s.length < 4 ? WEIGHT.shortStem : WEIGHT.stem;
      bag.add(hashRange(SEED.stem, s, 0, s.length), stemWeight);
      if (!isNumber) {
        bag.add(hashRange(SEED.prefix, s, 0, Math.min(s.length, PREFIX_KEY_LENGTH)), WEIGHT.prefix);
        this.addNgrams(folded);
      }
      let key = s;
      for (const lang of langs) {
        const concepts = conceptsOf(word, folded, lang);
        if (concepts.length === 0) continue;
        const w = WEIGHT.concept / Math.sqrt(concepts.length);
        for (const c of concepts) bag.add(hashRange(SEED.concept, c, 0, c.length), w);
        key = `#${concepts[0]!}`;
      }
      if (isJoined) continue;
      if (previousKey !== undefined && previousKey !== key) {
        const [a, b] = previousKey < key ? [previousKey, key] : [key, previousKey];
        const h = hashRange(
          Math.imul(hashRange(SEED.bigram, a, 0, a.length) ^ 0x20, FNV_PRIME),
          b,
          0,
          b.length,
        );
        bag.add(h, WEIGHT.bigram);
      }
      previousKey = key;
    }
    if (bag.isEmpty) bag.add(SEED.empty, WEIGHT.empty);
    return bag.project(this.dimensions);
  }

  private collectWords(text: string): void {
    this.words.length = 0;
    this.folded.length = 0;
    this.joined.length = 0;
    forEachWord(text, (word, folded, joined) => {
      this.words.push(word);
      this.folded.push(folded);
      this.joined.push(joined);
    });
  }

  private guessLanguages(): readonly Language[] {
    let fr = 0;
    let en = 0;
    for (const f of this.folded) {
      const inFr = STOPWORDS.fr.has(f);
      const inEn = STOPWORDS.en.has(f);
      if (inFr && !inEn) fr++;
      else if (inEn && !inFr) en++;
    }
    if (fr > en) return FR;
    if (en > fr) return EN;
    return BOTH;
  }

  private addNgrams(folded: string): void {
    const padded = `<${folded}>`;
    const bag = this.bag;
    for (let n = NGRAM_MIN; n <= NGRAM_MAX; n++) {
      const w = WEIGHT.ngram[n] ?? 0;
      const seed = Math.imul(SEED.ngram ^ n, FNV_PRIME);
      for (let start = 0; start + n <= padded.length; start++)
        bag.add(hashRange(seed, padded, start, start + n), w);
    }
  }
}

const FR: readonly Language[] = ['fr'];
const EN: readonly Language[] = ['en'];
const BOTH: readonly Language[] = ['fr', 'en'];
