import type { Sentence } from '../types.js';

/** Titles that precede a name: a period after them never ends a sentence. Case-sensitive. */
const TITLES = new Set([
  'M',
  'MM',
  'Mme',
  'Mmes',
  'Mlle',
  'Mlles',
  'Mgr',
  'Dr',
  'Drs',
  'Pr',
  'Prof',
  'Mr',
  'Mrs',
  'Ms',
  'Messrs',
  'St',
  'Ste',
  'Gen',
  'Sen',
  'Rep',
  'Gov',
  'Lt',
  'Col',
  'Capt',
  'Sgt',
  'Rev',
  'Hon',
]);

/** Abbreviations that are followed by a number (« p. 12 », « janv. 2024 »). Lowercase. */
const BEFORE_NUMBER = new Set(
  (
    'cf p pp vol no n° art chap fig ex env vs av apr janv févr fév avr juil sept oct nov déc jan feb mar aug ' +
    'sep dec approx ca al t réf ref tél tel éd ed'
  ).split(' '),
);

const CLOSERS = new Set(['»', '”', ')', ']', '›']);
const AMBIGUOUS_CLOSERS = new Set(['"', "'", '’']);
const CONTINUATION_PUNCTUATION = new Set([',', ';', ':']);
const PARAGRAPH_BREAK = /\n[^\S\n]*\n\s*/g;

const segmenters = new Map<string, Intl.Segmenter>();

function segmenterFor(language: string): Intl.Segmenter {
  const locale = /^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$/.test(language) ? language : 'fr';
  let segmenter = segmenters.get(locale);
  if (!segmenter) {
    segmenter = new Intl.Segmenter(locale, { granularity: 'sentence' });
    segmenters.set(locale, segmenter);
  }
  return segmenter;
}

function isSpace(c: string | undefined): boolean {
  return c !== undefined && /\s/.test(c);
}

function isCloserAt(s: string, i: number): boolean {
  const c = s[i];
  if (c === undefined) return false;
  if (CLOSERS.has(c)) return true;
  if (!AMBIGUOUS_CLOSERS.has(c)) return false;
  const next = s[i + 1];
  return next === undefined || /[\s,;:.!?)\]»”]/.test(next);
}

/** Moves a boundary placed before closing quotes or brackets (« Pourquoi ? » …) to after them. */
function shiftPastClosers(s: string, b: number): number {
  let k = b;
  for (;;) {
    let m = k;
    while (m < s.length && s[m] !== '\n' && isSpace(s[m])) m += 1;
    if (!isCloserAt(s, m)) return k;
    k = m + 1;
  }
}

/** The whitespace-delimited token ending at `end` (exclusive) and not starting before `floor`. */
function tokenBefore(s: string, end: number, floor: number): { token: string; start: number } {
  let e = end;
  while (e > floor && isSpace(s[e - 1])) e -= 1;
  let start = e;
  while (start > floor && !isSpace(s[start - 1])) start -= 1;
  return { token: s.slice(start, e), start };
}

function shouldMerge(s: string, sentenceStart: number, b: number): boolean {
  if (!isSpace(s[b - 1]) && !isSpace(s[b])) return true;
  let n = b;
  while (n < s.length && isSpace(s[n])) n += 1;
  const next = s[n] ?? '';
  const nextCp = String.fromCodePoint(s.codePointAt(n) ?? 32);
  if (/\p{Ll}/u.test(nextCp) || CONTINUATION_PUNCTUATION.has(next)) return true;

  const { token, start } = tokenBefore(s, b, sentenceStart);
  const word = /^[«“"'‘(\[]*(.+)\.$/su.exec(token)?.[1];
  if (word === undefined) return false;
  if (TITLES.has(word)) return true;
  if (BEFORE_NUMBER.has(word.toLowerCase()) && /\d/.test(next)) return true;
  if (/^\p{Lu}$/u.test(word) && /\p{Lu}/u.test(nextCp)) {
    const previous = tokenBefore(s, start, sentenceStart).token;
    return previous === '' || /^[«“"'‘(\[]*\p{Lu}/u.test(previous);
  }
  return false;
}

function paragraphSpans(text: string): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  let start = 0;
  for (const m of text.matchAll(PARAGRAPH_BREAK)) {
    spans.push([start, m.index]);
    start = m.index + m[0].length;
  }
  spans.push([start, text.length]);
  return spans;
}

/** Characters the segmenter is given at a time (see {@link segmentBoundaries}). */
const SEGMENT_WINDOW = 2048;
/** A boundary closer than this to a window's cut may depend on the text after it: the next window starts before. */
const WINDOW_MARGIN = 512;

/**
 * The boundaries `Intl.Segmenter` puts inside `paragraph` (after 0, before its end), segmenting at most `window`
 * characters at a time: V8 copies a segmented string's whole input for every segment it yields, so one call on a
 * 300,000-character line took 2.4 s of the event loop (time and garbage grow with the square of the length). The next
 * window starts at the last boundary found at least `margin` characters before the cut; a window with none is doubled.
 *
 * ICU decides a boundary from the text around it, looking ahead after a full stop as far as the next letter (its rule
 * SB8), so the result is one segmentation of the whole paragraph's unless a full stop is followed by more than about
 * `margin` characters with no letter: then where that sentence ends may differ, and the sentences still cover the
 * text. Tests compare the two on random paragraphs; with a 16-character margin they do differ.
 */
export function segmentBoundaries(
  paragraph: string,
  language: string,
  window = SEGMENT_WINDOW,
  margin = WINDOW_MARGIN,
): number[] {
  const boundaries: number[] = [];
  let start = 0;
  let size = window;
  while (start < paragraph.length) {
    const end = Math.min(paragraph.length, start + size);
    const cut = end === paragraph.length ? end : end - margin;
    let restart = start;
    for (const { index } of segmenterFor(language).segment(paragraph.slice(start, end))) {
      const b = start + index;
      if (b === start) continue;
      if (b >= cut) break;
      boundaries.push(b);
      restart = b;
    }
    if (end === paragraph.length) break;
    if (restart === start) size *= 2;
    else [start, size] = [restart, window];
  }
  return boundaries;
}

function sentenceBoundaries(paragraph: string, language: string): number[] {
  const kept: number[] = [];
  let sentenceStart = 0;
  for (const index of segmentBoundaries(paragraph, language)) {
    const b = shiftPastClosers(paragraph, index);
    if (b <= sentenceStart || b >= paragraph.length) continue;
    if (shouldMerge(paragraph, sentenceStart, b)) continue;
    kept.push(b);
    sentenceStart = b;
  }
  return kept;
}

/**
 * Splits a normalised text into sentences with `Intl.Segmenter`, corrected for news prose: a paragraph break
 * (blank line) always ends a sentence; a boundary is dropped after a title (« M. », « Mme. », « Dr. », « Mr. »),
 * after an initial followed by a name (« J. K. Rowling »), after an abbreviation followed by a number
 * (« p. 12 »), inside a word or URL, and before a lowercase word or a comma (« etc. et », « « Pourquoi ? »
 * demanda-t-il »); closing guillemets and quotes stay with the sentence they close.
 *
 * Each sentence is trimmed, and `text.slice(start, end) === sentence.text`. Sentences are in order, do not overlap,
 * and together cover every non-whitespace character of `text`.
 *
 * @param language BCP 47 tag for the segmenter; anything unusable falls back to French.
 */
export function splitSentences(text: string, language = 'fr'): Sentence[] {
  const sentences: Sentence[] = [];
  const push = (from: number, to: number): void => {
    let start = from;
    let end = to;
    while (start < end && isSpace(text[start])) start += 1;
    while (end > start && isSpace(text[end - 1])) end -= 1;
    if (end > start) sentences.push({ index: sentences.length, start, end, text: text.slice(start, end) });
  };
  for (const [pStart, pEnd] of paragraphSpans(text)) {
    const paragraph = text.slice(pStart, pEnd);
    let from = 0;
    for (const b of sentenceBoundaries(paragraph, language)) {
      push(pStart + from, pStart + b);
      from = b;
    }
    push(pStart + from, pEnd);
  }
  return sentences;
}
