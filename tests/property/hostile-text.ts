import fc from 'fast-check';

/** Pieces of news prose that have broken sentence splitters and quote matchers before. */
const TRICKY = [
  'M.',
  'MM.',
  'Mme',
  'Mme.',
  'Dr.',
  'etc.',
  'p. ex.',
  'p. 12',
  'cf.',
  'janv. 2024',
  'J. K.',
  'U.S.',
  'no.',
  'Smith',
  'dit',
  'il',
  'Elle',
  'l’armée',
  "l'armée",
  'aujourd’hui',
  '«',
  '»',
  '« ',
  ' »',
  '‹',
  '›',
  '“',
  '”',
  '„',
  '"',
  "'",
  '’',
  '?',
  '!',
  ' ?',
  ' !',
  ' :',
  ' ;',
  '.',
  '…',
  '...',
  '–',
  '—',
  '-',
  '(',
  ')',
  '[',
  ']',
  '3.5',
  '3,5 %',
  '1. 000',
  '12',
  '2 130 706 433',
  'https://ex.com/a.b?c=d',
  'é',
  'e\u0301',
  'q\u0323\u0307',
  'Ünïcödé',
  '🙂',
  '👩‍👩‍👧',
  '👍🏽',
  '🇫🇷',
  'שלום',
  'مرحبا بالعالم.',
  '\u202Eevil\u202C',
  '\u200F',
  '\u200B',
  '\u200D',
  '\u2060',
  '\uFEFF',
  '\u00AD',
  '@everyone',
  '<@123>',
  '*',
  '_',
  '`',
  '```',
  '~~',
  '||',
  '\\',
  '>',
  '# ',
] as const;

/** Separators, including every line ending and exotic space the loaders may meet. */
const SEPARATORS = [
  ' ',
  ' ',
  ' ',
  '  ',
  '\n',
  '\n\n',
  '\r\n',
  '\r',
  '\t',
  '\u00A0',
  '\u202F',
  '\u2028',
  '\u3000',
] as const;

/** A word made of letters, possibly very long (a URL or a German compound without spaces). */
const word = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.string({
      unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzéèàçœ'),
      minLength: 1,
      maxLength: 12,
    }),
  },
  { weight: 3, arbitrary: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZÉ') },
  {
    weight: 1,
    arbitrary: fc.string({
      unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz'),
      minLength: 200,
      maxLength: 1500,
    }),
  },
);

const piece = fc.oneof(
  { weight: 8, arbitrary: word },
  { weight: 3, arbitrary: fc.constantFrom('. ', '? ', '! ', '.\n', '… ', ' ! » ', '. Le', '. La') },
  { weight: 5, arbitrary: fc.constantFrom(...TRICKY) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 4 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 3 }) },
);

/** Arbitrary Unicode prose: words, French punctuation, abbreviations, emoji, marks, invisibles, line endings. */
export const hostileText = (maxPieces = 60): fc.Arbitrary<string> =>
  fc
    .array(fc.tuple(piece, fc.option(fc.constantFrom(...SEPARATORS), { freq: 3 })), {
      maxLength: maxPieces,
      size: 'max',
    })
    .map((parts) => parts.map(([p, sep]) => p + (sep ?? '')).join(''));

/** Like {@link hostileText}, but made of well-formed UTF-16 only (what a UTF-8 file decodes to). */
export const wellFormedText = (maxPieces = 60): fc.Arbitrary<string> =>
  hostileText(maxPieces).map((s) => s.replace(/\p{Cs}/gu, '\uFFFD'));
