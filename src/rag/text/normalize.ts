/**
 * Text normalisation for the corpus, and the folding used to check that a quote is verbatim.
 *
 * `normalizeText` produces the one string every offset of the core points into; `foldForMatch` and
 * `findVerbatim` compare a quote with that string while tolerating typographic variants, so a quote typed with
 * straight apostrophes still matches « l’accès » and the original span can be shown as written.
 */

const LINE_BREAKS = /\r\n?|[\u000B\u000C\u0085\u2028\u2029]/g;
/** Invisible format characters: zero-width spaces and joiners, word joiner, BOM, soft hyphen, bidi controls. */
const INVISIBLE = /[\u00AD\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/g;
const CONTROLS = /[\u0000-\u0008\u000E-\u001F\u007F-\u009F]/g;
/** Tab, no-break spaces (U+00A0, U+202F, French typography) and the other exotic spaces. */
const EXOTIC_SPACES = /[\t\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000]/g;
/** Any character one of the four patterns above replaces: most texts have none, and one scan is cheaper than four. */
const NEEDS_CLEANING =
  /[\r\u000B\u000C\u0085\u2028\u2029\u00AD\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF\u0000-\u0008\u000E-\u001F\u007F-\u009F\t\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000]/;

/**
 * Normalises a document's text: Unicode NFC; CRLF, CR, vertical tab, form feed and Unicode line separators become
 * line breaks; BOM, zero-width and bidi characters and other control characters are removed; tabs and exotic spaces
 * (no-break spaces included) become a plain space; runs of spaces collapse to one; lines are trimmed.
 *
 * Every non-empty line is a paragraph, and paragraphs are joined with exactly one blank line (`"\n\n"`). A single
 * line break is therefore a paragraph break too: plain-text articles such as the seed put one paragraph per line,
 * and the loaders emit one line per block. Typography (’ « » – …) is kept as written, for display.
 */
export function normalizeText(raw: string): string {
  const cleaned = NEEDS_CLEANING.test(raw)
    ? raw.replace(LINE_BREAKS, '\n').replace(INVISIBLE, '').replace(CONTROLS, '').replace(EXOTIC_SPACES, ' ')
    : raw;
  // Only spaces and \n are left as whitespace (NFC makes none), so trimming lines is removing a space around \n.
  return cleaned
    .normalize('NFC')
    .replace(/ {2,}/g, ' ')
    .replace(/ \n/g, '\n')
    .replace(/\n /g, '\n')
    .trim()
    .replace(/\n+/g, '\n\n');
}

const FOLD_MAP: ReadonlyMap<string, string> = new Map([
  ...[...'’‘‛ʼ′`´'].map((c) => [c, "'"] as const),
  ...[...'«»“”„‟″'].map((c) => [c, '"'] as const),
  ...[...'‐‑‒–—―'].map((c) => [c, '-'] as const),
  ['…', '...'],
]);
const FOLDED_CHARS = new RegExp(`[${[...FOLD_MAP.keys()].join('')}]`, 'gu');

function foldChars(s: string): string {
  return s.replace(INVISIBLE, '').replace(FOLDED_CHARS, (c) => FOLD_MAP.get(c) ?? c);
}

/**
 * Folds a string for verbatim comparison: invisible characters removed, then NFC (so `e\u200B\u0301` folds like
 * `é`); apostrophe variants become `'`, quotation marks (« » “ ” „ ‟ ″) become `"`, dashes become `-`, `…` becomes
 * `...`; every whitespace run becomes one space; the result is trimmed. Case and accents are kept: a quote must be
 * word for word.
 */
export function foldForMatch(s: string): string {
  return foldChars(s.replace(INVISIBLE, '').normalize('NFC')).replace(/\s+/g, ' ').trim();
}

interface FoldedText {
  folded: string;
  /** Original start offset of each folded character. */
  origStart: number[];
  /** Original end offset (exclusive) of each folded character. */
  origEnd: number[];
  /** `canStart[i]`: a match may begin at folded index i without splitting an original character. */
  canStart: boolean[];
  /** `canEnd[j]`: a match may end (exclusive) at folded index j without splitting an original character. */
  canEnd: boolean[];
}

const graphemes = new Intl.Segmenter('und', { granularity: 'grapheme' });

function* units(s: string): Generator<{ unit: string; start: number }> {
  if (s.normalize('NFC') === s) {
    let start = 0;
    for (const unit of s) {
      yield { unit, start };
      start += unit.length;
    }
    return;
  }
  for (const { segment, index } of graphemes.segment(s)) yield { unit: segment, start: index };
}

function foldWithOffsets(haystack: string): FoldedText {
  const out: string[] = [];
  const origStart: number[] = [];
  const origEnd: number[] = [];
  const canStart: boolean[] = [];
  const canEnd: boolean[] = [false];
  let lastWasSpace = false;
  for (const { unit, start } of units(haystack)) {
    const end = start + unit.length;
    const f = foldChars(unit.normalize('NFC'));
    if (f.length === 0) continue;
    if (/^\s+$/.test(f)) {
      if (lastWasSpace) {
        origEnd[origEnd.length - 1] = end;
        continue;
      }
      lastWasSpace = true;
      out.push(' ');
      origStart.push(start);
      origEnd.push(end);
      canStart.push(true);
      canEnd.push(true);
      continue;
    }
    lastWasSpace = false;
    const chars = f.replace(/\s+/g, ' ');
    for (let k = 0; k < chars.length; k += 1) {
      out.push(chars[k] ?? '');
      origStart.push(start);
      origEnd.push(end);
      canStart.push(k === 0);
      canEnd.push(k === chars.length - 1);
    }
  }
  canStart.push(false);
  return { folded: out.join(''), origStart, origEnd, canStart, canEnd };
}

const WORD_CHAR = /^[\p{L}\p{M}\p{N}]$/u;

function isWordChar(c: string | undefined): boolean {
  return c !== undefined && WORD_CHAR.test(c);
}

/** True when folded[at - 1] and folded[at] are both word characters (letters, marks, digits). */
function insideWord(folded: string, at: number): boolean {
  const before = at >= 2 && /[\uDC00-\uDFFF]/.test(folded[at - 1] ?? '') ? at - 2 : at - 1;
  const previous = before >= 0 ? String.fromCodePoint(folded.codePointAt(before) ?? 32) : undefined;
  const next = at < folded.length ? String.fromCodePoint(folded.codePointAt(at) ?? 32) : undefined;
  return isWordChar(previous) && isWordChar(next);
}

/**
 * Folded forms of the texts searched last (a document is searched once per quote, and popular articles by many
 * answers), bounded by their total length: a folded character costs about 35 bytes of offsets and flags.
 */
const FOLD_CACHE_CHARACTERS = 1_000_000;
const foldCache = new Map<string, FoldedText>();
let foldCacheCharacters = 0;

function foldedHaystack(haystack: string): FoldedText {
  const cached = foldCache.get(haystack);
  if (cached) {
    foldCache.delete(haystack);
    foldCache.set(haystack, cached);
    return cached;
  }
  const folded = foldWithOffsets(haystack);
  if (haystack.length > FOLD_CACHE_CHARACTERS / 8) return folded;
  foldCache.set(haystack, folded);
  foldCacheCharacters += haystack.length;
  for (const oldest of foldCache.keys()) {
    if (foldCacheCharacters <= FOLD_CACHE_CHARACTERS) break;
    foldCache.delete(oldest);
    foldCacheCharacters -= oldest.length;
  }
  return folded;
}

/** Characters that fold into their neighbour or vanish: an exact match next to one is left to the folded search. */
const JOINING = /[\p{M}\u00AD\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFE00-\uFE0F\uFEFF]/u;

function codePointBefore(s: string, at: number): string | undefined {
  if (at <= 0) return undefined;
  const before = at >= 2 && /[\uDC00-\uDFFF]/.test(s[at - 1] ?? '') ? at - 2 : at - 1;
  return String.fromCodePoint(s.codePointAt(before) ?? 32);
}

function codePointAt(s: string, at: number): string | undefined {
  return at < s.length ? String.fromCodePoint(s.codePointAt(at) ?? 32) : undefined;
}

/**
 * The first occurrence of `needle` exactly as written, when its boundaries are ones the folded search would accept
 * too. `null` means "ask the folded search": an edge touches a combining mark or an invisible character, whose
 * folding depends on its neighbours.
 */
function findExact(
  haystack: string,
  needle: string,
  wholeWords: boolean,
): { start: number; end: number } | undefined | null {
  const first = codePointAt(needle, 0);
  const last = codePointBefore(needle, needle.length);
  if (JOINING.test(first ?? '') || JOINING.test(last ?? '')) return null;
  for (let start = haystack.indexOf(needle); start !== -1; start = haystack.indexOf(needle, start + 1)) {
    const end = start + needle.length;
    const before = codePointBefore(haystack, start);
    const after = codePointAt(haystack, end);
    if (JOINING.test(before ?? '') || JOINING.test(after ?? '')) return null;
    if (/[\uDC00-\uDFFF]/.test(haystack[start] ?? '') || /[\uD800-\uDBFF]/.test(haystack[end - 1] ?? ''))
      return null;
    if (wholeWords && ((isWordChar(before) && isWordChar(first)) || (isWordChar(last) && isWordChar(after))))
      continue;
    return { start, end };
  }
  return undefined;
}

/**
 * Finds `needle` in `haystack`, comparing both under {@link foldForMatch}, and returns the matching span as offsets
 * into the original `haystack`, so that `haystack.slice(start, end)` shows the passage exactly as written. The span
 * never splits an original character (a needle ending in `..` does not match half of a `…`). A passage present
 * exactly as written (the usual case: an extractive quote is a slice of the text) is returned at its first exact
 * occurrence without folding the haystack; otherwise the first folded match is returned, or `undefined` when there
 * is none or the needle is blank. Matching is by substring unless `wholeWords` is set: then a match may not start or
 * end inside a word or a number (« acceptable » is not found in « inacceptable », nor « 20 millions » in
 * « 120 millions »).
 */
export function findVerbatim(
  haystack: string,
  needle: string,
  options: { wholeWords?: boolean } = {},
): { start: number; end: number } | undefined {
  const target = foldForMatch(needle);
  if (target.length === 0) return undefined;
  const exact = findExact(haystack, needle.trim(), options.wholeWords ?? false);
  if (exact) return exact;
  const { folded, origStart, origEnd, canStart, canEnd } = foldedHaystack(haystack);
  for (let i = folded.indexOf(target); i !== -1; i = folded.indexOf(target, i + 1)) {
    const j = i + target.length;
    if (options.wholeWords && (insideWord(folded, i) || insideWord(folded, j))) continue;
    if (canStart[i] && canEnd[j]) {
      const start = origStart[i];
      const end = origEnd[j - 1];
      if (start !== undefined && end !== undefined) return { start, end };
    }
  }
  return undefined;
}
