import type { Language } from '../types.js';

const FRENCH = new Set(
  (
    'le la les un une des du de d l et est sont a ont au aux ce cet cette ces qui que quoi quel quelle quels quelles ' +
    'pourquoi comment où quand combien dans sur pour par avec sans pas ne plus il elle ils elles on nous vous je tu ' +
    'son sa ses leur leurs été être avoir fait a-t-il est-ce qu s y en se'
  ).split(' '),
);
const ENGLISH = new Set(
  (
    'the a an and is are was were has have had of to in on for by with without not no it its they them their this ' +
    'that these those who what which why how when where does did do be been being from about into than there ' +
    'would could should will can say said'
  ).split(' '),
);

/**
 * Guesses whether a text is French or English from its function words and diacritics. Returns `undefined` when
 * there is no signal either way (a bare name such as « Azure ? »).
 */
export function detectLanguage(text: string): Language | undefined {
  const words = text
    .toLowerCase()
    .normalize('NFC')
    .split(/[^\p{L}]+/u)
    .filter(Boolean);
  let fr = 0;
  let en = 0;
  for (const w of words) {
    if (FRENCH.has(w)) fr += 1;
    if (ENGLISH.has(w)) en += 1;
  }
  fr += (text.match(/[éèêàùçœâîôû]/giu)?.length ?? 0) * 0.5;
  if (/[’']/.test(text) && /\b(?:l|d|qu|n|s|j|c)[’']/i.test(text)) fr += 1;
  if (fr === 0 && en === 0) return undefined;
  if (fr === en) return undefined;
  return fr > en ? 'fr' : 'en';
}

/**
 * Characters of a document its language is guessed from: the first 20,000 (some 3,000 words) say as much as the
 * rest, and reading the whole of a 2 MB text took 100 ms of the event loop.
 */
export const DOCUMENT_SAMPLE_CHARS = 20_000;

/** {@link detectLanguage} of a document, from its first {@link DOCUMENT_SAMPLE_CHARS} characters. */
export function detectDocumentLanguage(text: string): Language | undefined {
  return detectLanguage(text.length > DOCUMENT_SAMPLE_CHARS ? text.slice(0, DOCUMENT_SAMPLE_CHARS) : text);
}
