import { stemmer as englishStemmer } from '@orama/stemmers/english';
import { stemmer as frenchStemmer } from '@orama/stemmers/french';
import type { Language } from '../types.js';

/**
 * Version of the analysis pipeline ({@link analyze}, {@link stem}, {@link STOPWORDS}). A lexical index records it in
 * its manifest and is rebuilt when it changes, exactly like an embedder id.
 */
export const ANALYZER_VERSION = 'analyze-v1';

const LIGATURES: Record<string, string> = { œ: 'oe', æ: 'ae', ß: 'ss' };

/**
 * Lower-cases a string and removes its diacritics: `Israël` -> `israel`, `Œuvre` -> `oeuvre`. Compatibility
 * characters are decomposed too (NFKD), so `ﬁ` becomes `fi`.
 */
export function foldAccents(s: string): string {
  const lower = s.toLowerCase();
  if (/^[\x00-\x7f]*$/.test(lower)) return lower;
  return lower
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .replace(/[œæß]/g, (c) => LIGATURES[c] ?? c);
}

/** Function words, in their accent-folded form. */
const FRENCH_STOPWORDS = (
  'a aie aient aies ait alors as au aucun aucune aupres auquel aussi autre autres aux auxquelles auxquels avaient ' +
  'avais avait avant avec avez aviez avoir avons ayant ayez ayons c ca car ce ceci cela celle celles celui ' +
  'cependant certain certaine certaines certains ces cet cette ceux chacun chacune chaque chez ci comme comment d ' +
  'dans de depuis des desquelles desquels dont donc du duquel elle elles en encore entre es est et etaient etais ' +
  'etait etant ete etes etiez etions etre eu eue eues eumes eurent eus eusse eussent eusses eussiez eussions eut ' +
  'eutes eux fut furent fus fusse fussent fusses fussiez fussions fut futes ici il ils j je jusqu jusque l la ' +
  'laquelle le lequel les lesquelles lesquels leur leurs lors lorsqu lorsque lui m ma mais me meme memes mes moi mon ' +
  'n ne ni nos notre nous on ont ou par parce parmi pas peu peut peuvent plus pour pourquoi pourrait pourraient ' +
  'puis puisqu puisque qu quand que quel quelle quelles quels qui quoi quoique s sa sans se selon sera serai seraient ' +
  'serais serait seras serez seriez serions serons seront ses si sien sienne siennes siens soi soient sois soit ' +
  'sommes son sont sous soyez soyons suis sur t ta te tes toi ton tous tout toute toutes tres tu un une unes uns ' +
  'vers voici voila vos votre vous y ainsi egalement notamment deja dont cas fait faire font etc ' +
  'afin lequel aupres desormais tandis tant toutefois neanmoins pourtant quelque quelques qu'
).split(' ');

const ENGLISH_STOPWORDS = (
  'a about above after again against all also am an and any are as at be because been before being below between ' +
  'both but by can could did do does doing down during each few for from further had has have having he her here ' +
  'hers herself him himself his how i if in into is it its itself just me more most my myself no nor not of off on ' +
  'once only or other our ours ourselves out over own same she should so some such than that the their theirs them ' +
  'themselves then there these they this those through to too under until up very was we were what when where ' +
  'which while who whom whose why will with would you your yours yourself yourselves s t d ll m re ve let lets ' +
  'may might must shall us whether yet according though although via per upon among amongst within without ' +
  'however thus therefore also etc'
).split(' ');

/** French and English stopwords, accent-folded. They carry no topic, so the lexical and hashed features skip them. */
export const STOPWORDS: Readonly<Record<Language, ReadonlySet<string>>> = Object.freeze({
  fr: new Set(FRENCH_STOPWORDS),
  en: new Set(ENGLISH_STOPWORDS),
});

/**
 * Whether an accent-folded token is a function word of `lang`, or of either language when `lang` is omitted (the
 * corpus is French and the questions come in both languages). Single letters are always stopwords.
 */
export function isStopword(token: string, lang?: Language): boolean {
  if (token.length === 1) return !/\d/.test(token);
  if (lang) return STOPWORDS[lang].has(token);
  return STOPWORDS.fr.has(token) || STOPWORDS.en.has(token);
}

const ELIDED = new Set('l d j m n s t c qu jusqu lorsqu puisqu quoiqu presqu'.split(' '));
const ENGLISH_CLITICS = new Set('s t re ve ll d m'.split(' '));
const APOSTROPHE_WORDS: Record<string, string> = {
  "aujourd'hui": 'aujourdhui',
  "quelqu'un": 'quelquun',
  "quelqu'une": 'quelquune',
  "prud'hommes": 'prudhommes',
};
const HYPHEN_CLITICS = new Set(
  't il ils elle elles on ce ci la je tu nous vous moi toi lui leur y en le les meme'.split(' '),
);

const ACRONYMS: Record<string, string> = { US: 'usa', EU: 'ue', UN: 'onu' };

const APOSTROPHE = /['’ʼ]/;
const HYPHEN = /[-‐‑]/;

/**
 * Receives each word of a text: `word` is lower-cased with its accents kept (what the stemmers want), `folded` is
 * its accent-folded form, and `joined` is true for the extra glued form of a hyphenated compound (`telaviv`).
 */
export type WordVisitor = (word: string, folded: string, joined: boolean) => void;

/**
 * A string-keyed cache of at most `2 * capacity` entries that keeps what is in use: when the young generation is
 * full it becomes the old one and the previous old one is dropped; a hit in the old generation is copied to the
 * young one. Cheaper than an LRU and nearly as good on Zipfian keys such as words.
 */
export class GenerationalCache<V> {
  private young = new Map<string, V>();
  private old = new Map<string, V>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
  }

  /** Entries held, counting twice a key present in both generations. */
  get size(): number {
    return this.young.size + this.old.size;
  }

  get(key: string): V | undefined {
    const hit = this.young.get(key);
    if (hit !== undefined) return hit;
    const old = this.old.get(key);
    if (old !== undefined) this.set(key, old);
    return old;
  }

  set(key: string, value: V): void {
    if (this.young.size >= this.capacity) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(key, value);
  }
}

/** The visits of one token, flattened as `word, folded, joined` triples. */
type TokenVisits = readonly (string | boolean)[];

/** Distinct tokens (case included) whose words are kept, per generation: about 250 bytes each, 8 MB at most. */
const TOKEN_CACHE_SIZE = 16_384;
const tokenCache = new GenerationalCache<TokenVisits>(TOKEN_CACHE_SIZE);

/**
 * A copy of a token that does not keep its whole text alive: V8 makes a slice of 13 characters or more a view on
 * the string it was cut from, and a cached view would hold a chunk, or a whole document, in memory.
 */
function detached(token: string): string {
  return token.length < 13 ? token : (token + ' ').slice(0, -1);
}

/**
 * Walks the words of a text without building an array: the hot path of the hashed embedder and the lexical index.
 * French elisions are split off (`l’armée` -> `armée`, `qu’une` -> `une`), English clitics dropped (`Israel's` ->
 * `israel`), hyphenated compounds give their parts and, when they are names rather than grammar, the glued form
 * (`Tel-Aviv` -> `tel`, `aviv`, `telaviv`; `a-t-il` -> `a`, `t`, `il`). Numbers are kept (`1,5` -> `1.5`).
 * Upper-case `US`, `EU` and `UN` become `usa`, `ue` and `onu`: in news they are institutions, not the stopwords
 * `us`, `eu` (French « had ») and `un`.
 *
 * Tokens are the matches of this regex, found by a hand-written scanner that is faster and allocates less:
 * `/\p{N}+(?:[.,]\p{N}+)*(?![\p{L}\p{N}])|[\p{L}\p{N}][\p{L}\p{M}\p{N}]*(?:[-‐‑'’ʼ][\p{L}\p{M}\p{N}]+)*\/gu`,
 * a number whose `.` or `,` groups are not followed by a letter or digit, or a word of letters, marks and digits
 * whose parts may be joined by hyphens and apostrophes. The words of each distinct token are computed once and
 * cached.
 */
export function forEachWord(text: string, visit: WordVisitor): void {
  const length = text.length;
  let i = 0;
  while (i < length) {
    const info = charInfo(text, i);
    if ((info & (LETTER | NUMBER)) === 0) {
      i += info & WIDE ? 2 : 1;
      continue;
    }
    let end = info & NUMBER ? numberEnd(text, i) : -1;
    if (end < 0) end = wordEnd(text, i);
    const token = text.slice(i, end);
    i = end;
    let visits = tokenCache.get(token);
    if (visits === undefined) {
      const key = detached(token);
      const flat: (string | boolean)[] = [];
      visitToken(key, (word, folded, joined) => flat.push(word, folded, joined));
      tokenCache.set(key, flat);
      visits = flat;
    }
    for (let k = 0; k < visits.length; k += 3)
      visit(visits[k] as string, visits[k + 1] as string, visits[k + 2] as boolean);
  }
}

const LETTER = 1;
const MARK = 2;
const NUMBER = 4;
const KNOWN = 8;
/** Set by {@link charInfo} on a surrogate pair: the code point takes two code units. */
const WIDE = 16;
const WORD_CHAR = LETTER | MARK | NUMBER;

/** Unicode classes of BMP code units, filled in on first sight with the regex engine's own tables. */
const bmpClasses = new Uint8Array(0x10000);
const astralClasses = new Map<number, number>();

function classify(char: string): number {
  return (
    KNOWN |
    (/\p{L}/u.test(char) ? LETTER : 0) |
    (/\p{M}/u.test(char) ? MARK : 0) |
    (/\p{N}/u.test(char) ? NUMBER : 0)
  );
}

/** Classes of the code point at `i` (LETTER, MARK, NUMBER), plus WIDE when it is a surrogate pair. */
function charInfo(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c < 0xd800 || c > 0xdbff) {
    const known = bmpClasses[c]!;
    if (known !== 0) return known;
    // A lone low surrogate is in no class, and classify() would say so too.
    const computed = classify(String.fromCharCode(c));
    bmpClasses[c] = computed;
    return computed;
  }
  const low = text.charCodeAt(i + 1);
  if (!(low >= 0xdc00 && low <= 0xdfff)) return KNOWN;
  const codePoint = (c - 0xd800) * 0x400 + (low - 0xdc00) + 0x10000;
  let known = astralClasses.get(codePoint);
  if (known === undefined) {
    known = classify(String.fromCodePoint(codePoint));
    if (astralClasses.size < 4096) astralClasses.set(codePoint, known);
  }
  return known | WIDE;
}

/** End of the run of code points with one of `classes` from `i`. */
function runEnd(text: string, i: number, classes: number): number {
  while (i < text.length) {
    const info = charInfo(text, i);
    if ((info & classes) === 0) break;
    i += info & WIDE ? 2 : 1;
  }
  return i;
}

/**
 * End of the number alternative of the token regex at `i` (a digit), or -1 when it does not match. Backtracking
 * can only stop at the end of a digit group, and every group but the last is followed by its `.` or `,`, so the
 * match is the whole run when the lookahead allows it, else the run without its last group.
 */
function numberEnd(text: string, i: number): number {
  let end = runEnd(text, i, NUMBER);
  let previous = -1;
  while (end + 1 < text.length) {
    const c = text.charCodeAt(end);
    if (c !== 0x2e && c !== 0x2c) break;
    if ((charInfo(text, end + 1) & NUMBER) === 0) break;
    previous = end;
    end = runEnd(text, end + 1, NUMBER);
  }
  if (end >= text.length || (charInfo(text, end) & (LETTER | NUMBER)) === 0) return end;
  return previous;
}

/** End of the word alternative of the token regex at `i` (a letter or digit): greedy, it never backtracks. */
function wordEnd(text: string, i: number): number {
  let end = runEnd(text, i, WORD_CHAR);
  while (end + 1 < text.length && isJoiner(text.charCodeAt(end))) {
    if ((charInfo(text, end + 1) & WORD_CHAR) === 0) break;
    end = runEnd(text, end + 1, WORD_CHAR);
  }
  return end;
}

/** `-‐‑'’ʼ` */
function isJoiner(c: number): boolean {
  return c === 0x2d || c === 0x2010 || c === 0x2011 || c === 0x27 || c === 0x2019 || c === 0x2bc;
}

function visitToken(token: string, visit: WordVisitor): void {
  const acronym = ACRONYMS[token];
  if (acronym) {
    visit(acronym, acronym, false);
    return;
  }
  const raw = token.toLowerCase();
  const first = raw.charCodeAt(0);
  if (first >= 48 && first <= 57) {
    const n = raw.replaceAll(',', '.');
    visit(n, n, false);
    return;
  }
  if (!HYPHEN.test(raw) && !APOSTROPHE.test(raw)) {
    visit(raw, foldAccents(raw), false);
    return;
  }
  visitCompound(raw, visit);
}

function visitCompound(raw: string, visit: WordVisitor): void {
  const parts = raw.split(HYPHEN);
  const kept: string[] = [];
  let gluable = parts.length >= 2 && parts.length <= 3;
  for (const part of parts) {
    const words = splitApostrophes(part);
    if (words.length !== 1) gluable = false;
    for (const w of words) {
      const folded = foldAccents(w);
      if (folded.length < 2 || HYPHEN_CLITICS.has(folded)) gluable = false;
      kept.push(folded);
      visit(w, folded, false);
    }
  }
  if (gluable) {
    const glued = parts.join('');
    visit(glued, kept.join(''), true);
  }
}

function splitApostrophes(part: string): string[] {
  if (!APOSTROPHE.test(part)) return [part];
  const whole = APOSTROPHE_WORDS[part.replace(/[’ʼ]/g, "'")];
  if (whole) return [whole];
  const pieces = part.split(APOSTROPHE);
  const out: string[] = [];
  pieces.forEach((piece, i) => {
    if (i < pieces.length - 1 && ELIDED.has(foldAccents(piece))) return;
    if (i > 0 && ENGLISH_CLITICS.has(piece)) return;
    out.push(piece);
  });
  return out;
}

/**
 * Splits a text into lower-cased, accent-folded words (see {@link forEachWord} for elisions, clitics, hyphens and
 * numbers). Stopwords are kept: use {@link analyze} for search terms.
 */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  forEachWord(text, (_word, folded) => out.push(folded));
  return out;
}

const STEMMERS: Record<Language, (word: string) => string> = { fr: frenchStemmer, en: englishStemmer };
const STEM_CACHE_LIMIT = 200_000;
const stemCaches: Record<Language, Map<string, string>> = { fr: new Map(), en: new Map() };

/**
 * Snowball stem of a word, accent-folded. Pass the word with its accents when you have them: the French stemmer
 * uses them (`dépassé` -> `depass`, but `depasse` -> `dep`); a folded word still gets a usable stem. Numbers are
 * returned unchanged.
 */
export function stem(token: string, lang: Language = 'fr'): string {
  const cache = stemCaches[lang];
  const hit = cache.get(token);
  if (hit !== undefined) return hit;
  const lower = token.toLowerCase();
  const first = lower.charCodeAt(0);
  const result = first >= 48 && first <= 57 ? lower : foldAccents(STEMMERS[lang](lower));
  if (cache.size >= STEM_CACHE_LIMIT) cache.clear();
  cache.set(token, result);
  return result;
}

/** Length of the truncation key shared by cognates across French and English (`palestiniens`, `Palestinians`). */
export const PREFIX_KEY_LENGTH = 6;

/**
 * A crude but language-blind conflation key: the French stem of the word cut to {@link PREFIX_KEY_LENGTH} letters.
 * `surveillance`, `surveillé`, `surveiller` -> `survei`; `ministère`, `ministry` -> `minist`; `Palestinians`,
 * `palestiniens` -> `palest`. It over-conflates (`interne`, `international`), so it is a second, weaker term next
 * to the stem.
 */
export function prefixKey(word: string): string {
  const s = stem(word, 'fr');
  return s.length <= PREFIX_KEY_LENGTH ? s : s.slice(0, PREFIX_KEY_LENGTH);
}

/**
 * The search terms of a text, for a lexical index shared by French documents and French or English questions.
 * Each content word (not a stopword) gives two terms: its French Snowball stem (`surveillé` -> `surveil`) and its
 * prefix key marked with `~` (`~survei`, see {@link prefixKey}). Exact stem matches therefore score on both terms
 * and cognates (`Palestinians` / `palestiniens`) on one. The same pipeline must run on documents and queries.
 */
export function analyze(text: string): string[] {
  const out: string[] = [];
  forEachWord(text, (word, folded) => {
    if (isStopword(folded)) return;
    out.push(stem(word, 'fr'), `~${prefixKey(word)}`);
  });
  return out;
}
