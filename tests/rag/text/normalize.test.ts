import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { findVerbatim, foldForMatch, normalizeText } from '../../../src/rag/text/normalize.js';

const SEED = normalizeText(
  readFileSync(new URL('../../../corpus/microsoft-azure-israel-defense.md', import.meta.url), 'utf8').replace(
    /^---\n[\s\S]*?\n---\n/,
    '',
  ),
);

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(random: () => number, items: readonly T[]): T {
  const item = items[Math.floor(random() * items.length)];
  if (item === undefined) throw new Error('empty list');
  return item;
}

/** A random span of `text` that starts and ends on a non-whitespace character. */
function randomSpan(random: () => number, text: string, maxLength = 120): [number, number] {
  for (;;) {
    const start = Math.floor(random() * text.length);
    const end = Math.min(text.length, start + 1 + Math.floor(random() * maxLength));
    if (!/\s/.test(text[start] ?? ' ') && !/\s/.test(text[end - 1] ?? ' ')) return [start, end];
  }
}

describe('normalizeText', () => {
  it('turns CRLF and CR line endings into paragraphs separated by one blank line', () => {
    expect(normalizeText('un\r\ndeux\rtrois\n')).toBe('un\n\ndeux\n\ntrois');
  });

  it('makes every non-empty line a paragraph and drops extra blank lines', () => {
    expect(normalizeText('\n\n  Titre  \nPhrase un.\n\n\n\nPhrase deux.\n  \n')).toBe(
      'Titre\n\nPhrase un.\n\nPhrase deux.',
    );
  });

  it('removes the BOM, zero-width characters, soft hyphens and control characters', () => {
    expect(normalizeText('\uFEFFMicro\u200Bsoft\u00AD a\u0007 dit\u200D\u2060 oui\u0000\u009F.')).toBe(
      'Microsoft a dit oui.',
    );
  });

  it('turns tabs, no-break and narrow no-break spaces into plain spaces but keeps the typography', () => {
    expect(normalizeText('Il a dit\u00A0:\t«\u202FNon\u202F!\u00A0» – l’armée…')).toBe(
      'Il a dit : « Non ! » – l’armée…',
    );
  });

  it('collapses runs of spaces inside a line and trims each line', () => {
    expect(normalizeText('   a    b  \n  c   ')).toBe('a b\n\nc');
  });

  it('composes decomposed accents (NFC)', () => {
    expect(normalizeText('ministe\u0300re de la De\u0301fense')).toBe('ministère de la Défense');
  });

  it('treats form feeds and Unicode line separators as line breaks', () => {
    expect(normalizeText('a\fb\u2028c\u2029d')).toBe('a\n\nb\n\nc\n\nd');
  });

  it('returns an empty string for whitespace and invisible characters only', () => {
    expect(normalizeText(' \n\t\u200B\uFEFF \r\n')).toBe('');
  });

  it('is idempotent on random messy strings', () => {
    const random = rng(7);
    const alphabet = [
      'a',
      'é',
      'e\u0301',
      ' ',
      '  ',
      '\t',
      '\n',
      '\r\n',
      '\u00A0',
      '\u202F',
      '\u200B',
      '’',
      '«',
      '…',
      '\u0001',
      'Z',
    ];
    for (let i = 0; i < 300; i += 1) {
      const raw = Array.from({ length: Math.floor(random() * 40) }, () => pick(random, alphabet)).join('');
      const once = normalizeText(raw);
      expect(normalizeText(once)).toBe(once);
      expect(once).not.toMatch(/ {2}|\n{3}|^\s|\s$|\t|\u00A0|\u202F|\u200B/);
    }
  });
});

describe('foldForMatch', () => {
  it('maps apostrophe, quotation mark, dash and ellipsis variants to ASCII', () => {
    expect(foldForMatch('l’accès ‘x’ ʼy′ `z´ « a » “b” „c‟ ″d – e — f ‑ g ‒ h…')).toBe(
      `l'accès 'x' 'y' 'z' " a " "b" "c" "d - e - f - g - h...`,
    );
  });

  it('collapses every whitespace run, line breaks included, and trims', () => {
    expect(foldForMatch('  un\n\ndeux\t\u00A0 trois  ')).toBe('un deux trois');
  });

  it('keeps case and accents, since a quote must be word for word', () => {
    expect(foldForMatch('Défense')).not.toBe(foldForMatch('defense'));
    expect(foldForMatch('Microsoft')).not.toBe(foldForMatch('microsoft'));
  });

  it('composes decomposed accents so that NFD and NFC spellings fold alike', () => {
    expect(foldForMatch('De\u0301fense')).toBe(foldForMatch('Défense'));
  });
});

describe('findVerbatim', () => {
  it('finds an exact passage and returns its offsets', () => {
    const haystack = 'Brad Smith a souligné que l’enquête interne avait révélé des faits.';
    const span = findVerbatim(haystack, 'l’enquête interne');
    expect(span).toEqual({ start: 26, end: 43 });
  });

  it('matches a quote typed with a straight apostrophe and returns the original curly span', () => {
    const haystack = 'Microsoft limite l’accès aux services.';
    const span = findVerbatim(haystack, "limite l'accès");
    expect(span && haystack.slice(span.start, span.end)).toBe('limite l’accès');
  });

  it('matches guillemets quoted with straight double quotes', () => {
    const haystack = 'Il a dit « non » hier.';
    const span = findVerbatim(haystack, 'dit " non "');
    expect(span && haystack.slice(span.start, span.end)).toBe('dit « non »');
  });

  it('maps offsets correctly when the haystack has an ellipsis and the quote three dots', () => {
    const haystack = 'Il attendait… puis il partit, dit-il.';
    const span = findVerbatim(haystack, 'attendait... puis');
    expect(span && haystack.slice(span.start, span.end)).toBe('attendait… puis');
    const after = findVerbatim(haystack, 'partit');
    expect(after && haystack.slice(after.start, after.end)).toBe('partit');
  });

  it('matches three dots in the haystack against an ellipsis in the quote', () => {
    const haystack = 'Fin... Puis la suite.';
    const span = findVerbatim(haystack, 'Fin… Puis');
    expect(span && haystack.slice(span.start, span.end)).toBe('Fin... Puis');
  });

  it('does not match half of an ellipsis', () => {
    expect(findVerbatim('Il attendait… puis partit.', 'attendait..')).toBeUndefined();
  });

  it('spans whitespace runs and paragraph breaks of the haystack', () => {
    const haystack = 'Première phrase.\n\nDeuxième   phrase\tici.';
    const span = findVerbatim(haystack, 'phrase. Deuxième phrase ici');
    expect(span && haystack.slice(span.start, span.end)).toBe('phrase.\n\nDeuxième   phrase\tici');
  });

  it('ignores whitespace around the quote', () => {
    const haystack = 'un deux trois';
    expect(findVerbatim(haystack, '  deux\n')).toEqual({ start: 3, end: 7 });
  });

  it('returns the first occurrence', () => {
    expect(findVerbatim('a b a b', 'a b')).toEqual({ start: 0, end: 3 });
  });

  it('prefers the first exact occurrence to an earlier typographic variant', () => {
    const haystack = "Il a cité l'accès, puis « l’accès » encore.";
    const span = findVerbatim(haystack, 'l’accès');
    expect(span).toEqual({ start: haystack.indexOf('l’accès'), end: haystack.indexOf('l’accès') + 7 });
  });

  it('skips exact occurrences inside a word when whole words are asked', () => {
    const haystack = 'Jugé inacceptable, puis acceptable.';
    const span = findVerbatim(haystack, 'acceptable', { wholeWords: true });
    expect(span?.start).toBe(haystack.lastIndexOf('acceptable'));
  });

  it('never returns an exact occurrence that splits a character or hides in an invisible join', () => {
    expect(findVerbatim('un cafe\u0301 noir', 'cafe')).toBeUndefined();
    expect(findVerbatim('Micro\u200Bsoft a dit', 'soft', { wholeWords: true })).toBeUndefined();
    expect(findVerbatim('Micro\u200Bsoft a dit', 'soft')).toEqual({ start: 6, end: 10 });
  });

  it('returns undefined when a word differs, the case differs or an accent is missing', () => {
    const haystack = 'Le ministère de la Défense israélien.';
    expect(findVerbatim(haystack, 'ministère de la Défense française')).toBeUndefined();
    expect(findVerbatim(haystack, 'Ministère de la Défense')).toBeUndefined();
    expect(findVerbatim(haystack, 'ministere de la Defense')).toBeUndefined();
  });

  it('returns undefined for a blank quote', () => {
    expect(findVerbatim('texte', '')).toBeUndefined();
    expect(findVerbatim('texte', ' \n ')).toBeUndefined();
  });

  it('returns offsets into a decomposed (NFD) haystack that cover whole characters', () => {
    const haystack = 'La De\u0301fense a re\u0301agi.';
    const span = findVerbatim(haystack, 'Défense a réagi');
    expect(span && haystack.slice(span.start, span.end)).toBe('De\u0301fense a re\u0301agi');
  });

  it('skips zero-width characters in the haystack', () => {
    const haystack = 'Micro\u200Bsoft a dit';
    const span = findVerbatim(haystack, 'Microsoft a');
    expect(span && haystack.slice(span.start, span.end)).toBe('Micro\u200Bsoft a');
  });

  it('finds random spans of the seed article quoted with straight apostrophes and reflowed whitespace', () => {
    expect(SEED.length).toBeGreaterThan(2000);
    const random = rng(42);
    for (let i = 0; i < 500; i += 1) {
      const [start, end] = randomSpan(random, SEED);
      const quote = SEED.slice(start, end)
        .replaceAll('’', "'")
        .replace(/\s+/g, () => pick(random, [' ', '  ', '\n', ' \n\t']));
      const span = findVerbatim(SEED, quote);
      expect(span, quote).toBeDefined();
      if (!span) continue;
      expect(span.start).toBeLessThanOrEqual(start);
      expect(foldForMatch(SEED.slice(span.start, span.end))).toBe(foldForMatch(SEED.slice(start, end)));
    }
  });

  it('maps offsets back through length-changing folds on a reflowed copy of the seed', () => {
    const random = rng(1234);
    const quoteForms: string[] = [];
    const haystackForms: string[] = [];
    for (const c of SEED) {
      if (/\s/.test(c)) {
        quoteForms.push(' ');
        haystackForms.push(pick(random, [' ', '   ', '\n\n', '\u00A0', ' \t ']));
      } else if ((c === '.' || c === ',') && random() < 0.5) {
        quoteForms.push(`${c}...`);
        haystackForms.push(`${c}…`);
      } else if (c === '’') {
        quoteForms.push(pick(random, ["'", '’']));
        haystackForms.push(pick(random, ['’', 'ʼ']));
      } else {
        quoteForms.push(c);
        haystackForms.push(c);
      }
    }
    const haystack = haystackForms.join('');
    const offsets = [0];
    for (const form of haystackForms) offsets.push((offsets.at(-1) ?? 0) + form.length);
    let exact = 0;
    for (let i = 0; i < 300; i += 1) {
      const [first, last] = randomSpan(random, SEED, 200);
      const quote = quoteForms.slice(first, last).join('');
      const expected = { start: offsets[first] ?? -1, end: offsets[last] ?? -1 };
      const span = findVerbatim(haystack, quote);
      expect(span, quote).toBeDefined();
      if (!span) continue;
      expect(span.start).toBeLessThanOrEqual(expected.start);
      expect(foldForMatch(haystack.slice(span.start, span.end))).toBe(foldForMatch(quote));
      if (span.start === expected.start && span.end === expected.end) exact += 1;
    }
    expect(exact).toBeGreaterThan(250);
  });
});

describe('findVerbatim on texts searched again', () => {
  it('answers the same from its cache of folded texts, and after the cache has moved on', () => {
    const article = 'Microsoft a suspendu l’accès de l’unité 8200 à Azure, après une enquête interne.';
    const first = findVerbatim(article, "l'unite 8200", { wholeWords: true });
    expect(first).toBeUndefined();
    const quote = "l'accès de l'unité 8200 à Azure";
    const span = findVerbatim(article, quote, { wholeWords: true });
    expect(span && article.slice(span.start, span.end)).toBe('l’accès de l’unité 8200 à Azure');
    for (let i = 0; i < 300; i += 1) findVerbatim(`${'x'.repeat(5000)} article ${i}`, `article ${i}`);
    expect(findVerbatim(article, quote, { wholeWords: true })).toEqual(span);
    expect(findVerbatim(article, 'unité 82', { wholeWords: true })).toBeUndefined();
  });
});
