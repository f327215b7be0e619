import { Embeddings, type EmbeddingsParams } from '@langchain/core/embeddings';
import type { Language } from '../types.js';
import { conceptsOf } from '../text/glossary.js';
import {
  forEachWord,
  GenerationalCache,
  isStopword,
  PREFIX_KEY_LENGTH,
  STOPWORDS,
  stem,
} from '../text/tokenize.js';
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

const NGRAM_OPEN = '<'.charCodeAt(0);
const NGRAM_CLOSE = '>'.charCodeAt(0);

function seedOf(tag: string): number {
  return Math.imul(FNV_OFFSET ^ tag.charCodeAt(0), FNV_PRIME);
}

function hashRange(seed: number, s: string, start: number, end: number): number {
  let h = seed;
  for (let i = start; i < end; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return h;
}

/** FNV-1a state after hashing a bigram's first key and its separator: the second key is hashed from there. */
function bigramState(key: string): number {
  return Math.imul(hashRange(SEED.bigram, key, 0, key.length) ^ 0x20, FNV_PRIME);
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The bucket of a finalised feature hash, or its complement when the feature counts negatively. */
function targetOf(hash: number, dimensions: number): number {
  const bucket = hash % dimensions;
  return fmix32(hash ^ 0x9e3779b9) & 1 ? bucket : ~bucket;
}

/** `1 + ln(count)` for the counts most features have, computed once. */
const LOG_TF = Float64Array.from({ length: 64 }, (_, c) => 1 + Math.log(c));

/**
 * Feature hash -> (max weight, count) in first-seen order, which the projection must keep: its float32 sums round
 * in that order. An open-addressing table stamped per text, so that a reset costs nothing.
 */
class FeatureBag {
  private keys = new Uint32Array(4096);
  private stamps = new Uint32Array(4096);
  private slots = new Int32Array(4096);
  private stamp = 1;
  private hashes = new Uint32Array(1024);
  private targets = new Int32Array(1024);
  private weights = new Float32Array(1024);
  private counts = new Int32Array(1024);
  private size = 0;
  private readonly vector: Float32Array;

  constructor(private readonly dimensions: number) {
    this.vector = new Float32Array(dimensions);
  }

  reset(): void {
    this.size = 0;
    this.stamp = (this.stamp + 1) >>> 0;
    if (this.stamp === 0) {
      this.stamps.fill(0);
      this.stamp = 1;
    }
  }

  get isEmpty(): boolean {
    return this.size === 0;
  }

  /** `hash` must already be finalised ({@link fmix32}), and `target` be its {@link targetOf}. */
  add(hash: number, weight: number, target: number): void {
    const keys = this.keys;
    const stamps = this.stamps;
    const mask = keys.length - 1;
    let i = hash & mask;
    while (stamps[i] === this.stamp) {
      if (keys[i] === hash) {
        const slot = this.slots[i]!;
        this.counts[slot]! += 1;
        if (weight > this.weights[slot]!) this.weights[slot] = weight;
        return;
      }
      i = (i + 1) & mask;
    }
    if (this.size === this.hashes.length) this.grow();
    const next = this.size++;
    this.hashes[next] = hash;
    this.targets[next] = target;
    this.weights[next] = weight;
    this.counts[next] = 1;
    stamps[i] = this.stamp;
    keys[i] = hash;
    this.slots[i] = next;
    if (this.size * 2 > keys.length) this.rehash();
  }

  /** Adds each (hash, target) pair of `features`, the i-th with `weights[i]`. */
  addEach(features: HashedFeatures, weights: Float64Array): void {
    for (let i = 0, j = 0; j < features.length; i++, j += 2)
      this.add(features[j]!, weights[i]!, features[j + 1]!);
  }

  /** Adds each (hash, target) pair of `features` with the same `weight`. */
  addAll(features: HashedFeatures, weight: number): void {
    for (let j = 0; j < features.length; j += 2) this.add(features[j]!, weight, features[j + 1]!);
  }

  /** Writes the L2-normalised projection to `out` from `offset`; `out` may be a number[] or a Float32Array. */
  project(out: { [index: number]: number }, offset: number): void {
    const dimensions = this.dimensions;
    const vector = this.vector;
    vector.fill(0);
    for (let i = 0; i < this.size; i++) {
      const target = this.targets[i]!;
      const count = this.counts[i]!;
      const value = this.weights[i]! * (count < LOG_TF.length ? LOG_TF[count]! : 1 + Math.log(count));
      if (target >= 0) vector[target]! += value;
      else vector[~target]! -= value;
    }
    let norm = 0;
    for (let i = 0; i < dimensions; i++) norm += vector[i]! * vector[i]!;
    norm = Math.sqrt(norm);
    for (let i = 0; i < dimensions; i++) out[offset + i] = norm > 0 ? vector[i]! / norm : 0;
  }

  private grow(): void {
    const capacity = this.hashes.length * 2;
    const hashes = new Uint32Array(capacity);
    const targets = new Int32Array(capacity);
    const weights = new Float32Array(capacity);
    const counts = new Int32Array(capacity);
    hashes.set(this.hashes);
    targets.set(this.targets);
    weights.set(this.weights);
    counts.set(this.counts);
    this.hashes = hashes;
    this.targets = targets;
    this.weights = weights;
    this.counts = counts;
  }

  private rehash(): void {
    const capacity = this.keys.length * 2;
    const mask = capacity - 1;
    this.keys = new Uint32Array(capacity);
    this.stamps = new Uint32Array(capacity);
    this.slots = new Int32Array(capacity);
    this.stamp = 1;
    for (let slot = 0; slot < this.size; slot++) {
      const hash = this.hashes[slot]!;
      let i = hash & mask;
      while (this.stamps[i] === 1) i = (i + 1) & mask;
      this.stamps[i] = 1;
      this.keys[i] = hash;
      this.slots[i] = slot;
    }
  }
}

/**
 * Finalised feature hashes, each followed by its {@link targetOf target}. A plain array of doubles: small typed
 * arrays cost twice the memory, most of it outside the heap.
 */
type HashedFeatures = readonly number[];

/** Concept features of a word in one language, their shared weight, and the word's bigram key. */
interface ConceptFeatures {
  readonly features: HashedFeatures;
  readonly weight: number;
  readonly key: string;
  readonly keyState: number;
}

/** Everything about a word that does not depend on its text, computed once per word and vector length. */
interface WordFeatures {
  readonly folded: string;
  readonly stopword: boolean;
  /** +1 for a French-only stopword, -1 for an English-only one, 0 otherwise: the language guess counts these. */
  readonly vote: number;
  /** The stem, prefix and n-gram features, in the order they are added, and their weights. */
  readonly features: HashedFeatures;
  readonly weights: Float64Array;
  readonly key: string;
  readonly keyState: number;
  /** The word as the stemmers want it, for the concept lookups. */
  readonly word: string;
  /** Concepts in each language: looked up on first need (a French text never needs the English ones), null if none. */
  fr: ConceptFeatures | null | undefined;
  en: ConceptFeatures | null | undefined;
}

const NUMBER_WEIGHTS = Float64Array.of(WEIGHT.number);
/** Weights depend only on the stem weight and the word's length: shared by all words of the same shape. */
const sharedWeights = new Map<number, Float64Array>();

function wordWeights(stemWeight: number, foldedLength: number): Float64Array {
  const key = foldedLength * 2 + (stemWeight === WEIGHT.stem ? 0 : 1);
  const shared = sharedWeights.get(key);
  if (shared) return shared;
  const weights = [stemWeight, WEIGHT.prefix];
  for (let n = NGRAM_MIN; n <= NGRAM_MAX; n++)
    for (let start = 0; start + n <= foldedLength + 2; start++) weights.push(WEIGHT.ngram[n] ?? 0);
  const built = Float64Array.from(weights);
  if (foldedLength <= 64) sharedWeights.set(key, built);
  return built;
}

function setFeature(features: number[], at: number, hash: number, dimensions: number): number {
  features[at] = hash;
  features[at + 1] = targetOf(hash, dimensions);
  return at + 2;
}

/** Character `i` of the word with its boundary markers, `<folded>`, without building that string. */
function paddedCharAt(folded: string, i: number): number {
  return i === 0 ? NGRAM_OPEN : i === folded.length + 1 ? NGRAM_CLOSE : folded.charCodeAt(i - 1);
}

function ngramCount(paddedLength: number): number {
  let count = 0;
  for (let n = NGRAM_MIN; n <= NGRAM_MAX; n++) count += Math.max(0, paddedLength - n + 1);
  return count;
}

function stopwordVote(folded: string): number {
  const inFr = STOPWORDS.fr.has(folded);
  const inEn = STOPWORDS.en.has(folded);
  return inFr && !inEn ? 1 : inEn && !inFr ? -1 : 0;
}

const NO_FEATURES: HashedFeatures = [];
const NO_WEIGHTS = new Float64Array(0);

function conceptFeatures(word: WordFeatures, lang: Language, dimensions: number): ConceptFeatures | null {
  const concepts = conceptsOf(word.word, word.folded, lang);
  if (concepts.length === 0) return null;
  const features = new Array<number>(2 * concepts.length);
  concepts.forEach((c, i) =>
    setFeature(features, 2 * i, fmix32(hashRange(SEED.concept, c, 0, c.length)), dimensions),
  );
  const key = `#${concepts[0]!}`;
  return { features, weight: WEIGHT.concept / Math.sqrt(concepts.length), key, keyState: bigramState(key) };
}

function wordFeatures(word: string, folded: string, dimensions: number): WordFeatures {
  const vote = stopwordVote(folded);
  if (isStopword(folded)) {
    return {
      folded,
      stopword: true,
      vote,
      features: NO_FEATURES,
      weights: NO_WEIGHTS,
      key: '',
      keyState: 0,
      word,
      fr: null,
      en: null,
    };
  }
  const first = folded.charCodeAt(0);
  const isNumber = first >= 48 && first <= 57;
  const s = stem(word, 'fr');
  const padded = folded.length + 2;
  const features = new Array<number>(2 * (isNumber ? 1 : 2 + ngramCount(padded)));
  let at = setFeature(features, 0, fmix32(hashRange(SEED.stem, s, 0, s.length)), dimensions);
  if (!isNumber) {
    const prefix = fmix32(hashRange(SEED.prefix, s, 0, Math.min(s.length, PREFIX_KEY_LENGTH)));
    at = setFeature(features, at, prefix, dimensions);
    for (let n = NGRAM_MIN; n <= NGRAM_MAX; n++) {
      const seed = Math.imul(SEED.ngram ^ n, FNV_PRIME);
      for (let start = 0; start + n <= padded; start++) {
        let h = seed;
        for (let i = start; i < start + n; i++) h = Math.imul(h ^ paddedCharAt(folded, i), FNV_PRIME);
        at = setFeature(features, at, fmix32(h), dimensions);
      }
    }
  }
  return {
    folded,
    stopword: false,
    vote,
    features,
    weights: isNumber
      ? NUMBER_WEIGHTS
      : wordWeights(s.length < 4 ? WEIGHT.shortStem : WEIGHT.stem, folded.length),
    key: s,
    keyState: bigramState(s),
    word,
    fr: undefined,
    en: undefined,
  };
}

/** Options of {@link LocalHashEmbeddings}. */
export interface LocalHashEmbeddingsOptions extends EmbeddingsParams {
  /** Vector length; default {@link DEFAULT_LOCAL_DIMENSIONS} (the config key `LOCAL_EMBEDDINGS_DIMENSIONS`). */
  dimensions?: number;
  /**
   * Words whose features are kept between texts, per generation of a {@link GenerationalCache}; default
   * {@link DEFAULT_WORD_CACHE_SIZE}. It changes speed and memory, never a vector.
   */
  wordCacheSize?: number;
}

/**
 * Default {@link LocalHashEmbeddingsOptions.wordCacheSize}: the common words of a news corpus. A cached word takes
 * about 0.5 KB, so a full cache (two generations) stays under 20 MB per instance, that is per worker thread.
 */
export const DEFAULT_WORD_CACHE_SIZE = 16_384;

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
 *
 * The features of a word do not depend on its text, so they are computed once and cached (see
 * {@link LocalHashEmbeddingsOptions.wordCacheSize}): words repeat so much that most texts are only cache hits.
 * An instance is not reentrant: it reuses scratch buffers across calls (each worker thread has its own).
 */
export class LocalHashEmbeddings extends Embeddings implements VerbatimEmbeddings {
  readonly id: string;
  readonly dimensions: number;
  private readonly bag: FeatureBag;
  private readonly cache: GenerationalCache<WordFeatures>;
  private readonly words: WordFeatures[] = [];
  private readonly joined: boolean[] = [];
  private wordCount = 0;
  private languageVote = 0;
  private readonly visit = (word: string, folded: string, joined: boolean): void => {
    const features = this.featuresOf(word, folded);
    this.words[this.wordCount] = features;
    this.joined[this.wordCount] = joined;
    this.wordCount++;
    this.languageVote += features.vote;
  };

  constructor(options: LocalHashEmbeddingsOptions = {}) {
    const {
      dimensions = DEFAULT_LOCAL_DIMENSIONS,
      wordCacheSize = DEFAULT_WORD_CACHE_SIZE,
      ...params
    } = options;
    super(params);
    if (!Number.isInteger(dimensions) || dimensions <= 0)
      throw new RangeError(`dimensions must be a positive integer, got ${dimensions}`);
    this.dimensions = dimensions;
    this.id = `${LOCAL_HASH_VERSION}:${dimensions}`;
    this.bag = new FeatureBag(dimensions);
    this.cache = new GenerationalCache(wordCacheSize);
  }

  /** Words whose features are cached, at most twice {@link LocalHashEmbeddingsOptions.wordCacheSize}. */
  get cachedWords(): number {
    return this.cache.size;
  }

  override async embedDocuments(documents: string[]): Promise<number[][]> {
    return documents.map((d) => this.embed(d));
  }

  override async embedQuery(document: string): Promise<number[]> {
    return this.embed(document);
  }

  /** Synchronous embedding of one text; the async methods only wrap it. */
  embed(text: string): number[] {
    const out = new Array<number>(this.dimensions);
    this.embedInto(text, out, 0);
    return out;
  }

  /**
   * Writes the vector of `text` into `out` from `offset`, rounded to float32 when `out` is a Float32Array: the
   * values of {@link embed}, without its array.
   */
  embedInto(text: string, out: Float32Array | number[], offset = 0): void {
    const bag = this.bag;
    bag.reset();
    this.wordCount = 0;
    this.languageVote = 0;
    forEachWord(text, this.visit);
    const vote = this.languageVote;
    const useFr = vote >= 0;
    const useEn = vote <= 0;
    let previousKey: string | undefined;
    let previousState = 0;
    for (let i = 0; i < this.wordCount; i++) {
      const word = this.words[i]!;
      if (word.stopword) continue;
      bag.addEach(word.features, word.weights);
      let key = word.key;
      let state = word.keyState;
      const fr = useFr ? this.concepts(word, 'fr') : null;
      if (fr) {
        bag.addAll(fr.features, fr.weight);
        key = fr.key;
        state = fr.keyState;
      }
      const en = useEn ? this.concepts(word, 'en') : null;
      if (en) {
        bag.addAll(en.features, en.weight);
        key = en.key;
        state = en.keyState;
      }
      if (this.joined[i]) continue;
      if (previousKey !== undefined && previousKey !== key) {
        const h =
          previousKey < key
            ? hashRange(previousState, key, 0, key.length)
            : hashRange(state, previousKey, 0, previousKey.length);
        const hash = fmix32(h);
        bag.add(hash, WEIGHT.bigram, targetOf(hash, this.dimensions));
      }
      previousKey = key;
      previousState = state;
    }
    if (bag.isEmpty) {
      const hash = fmix32(SEED.empty);
      bag.add(hash, WEIGHT.empty, targetOf(hash, this.dimensions));
    }
    bag.project(out, offset);
  }

  private concepts(word: WordFeatures, lang: Language): ConceptFeatures | null {
    const known = word[lang];
    if (known !== undefined) return known;
    const concepts = conceptFeatures(word, lang, this.dimensions);
    word[lang] = concepts;
    return concepts;
  }

  private featuresOf(word: string, folded: string): WordFeatures {
    const cached = this.cache.get(word);
    if (cached !== undefined && cached.folded === folded) return cached;
    const features = wordFeatures(word, folded, this.dimensions);
    // A word can come with another folded form (`1²` alone keeps its `²`, in `covid-1²` it folds to `12`).
    if (cached === undefined) this.cache.set(word, features);
    return features;
  }
}
