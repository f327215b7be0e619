import fc from 'fast-check';
import matter from 'gray-matter';
import { describe, expect, it } from 'vitest';
import { extractMarkdown, renderMarkdown } from '../../../src/rag/corpus/markdown.js';
import { readFrontMatter } from '../../../src/rag/corpus/parse.js';
import { normalizeText } from '../../../src/rag/text/normalize.js';

/** Pieces of text that are plain prose, or sit at the edge of what Markdown, HTML entities and Unicode treat specially. */
const PIECES = [
  ...[
    'a',
    'B',
    'é',
    'e\u0301',
    '\u0301',
    '’',
    '«',
    '»',
    '–',
    '…',
    '.',
    ',',
    ';',
    '?',
    '!',
    '"',
    "'",
    '(',
    ')',
    '{',
  ],
  ...[
    '%',
    '$',
    '/',
    '@',
    ' ',
    '  ',
    '\n',
    '\n\n',
    '\n\n\n',
    '\u00A0',
    '\u202F',
    '\u2000',
    '\u3000',
    '\u200B',
  ],
  ...[
    '\u00AD',
    '\uFEFF',
    '\u2060',
    '\u200E',
    '\u{1F600}',
    '\uD800',
    '\u0000',
    '\u0085',
    '\u2028',
    '\t',
    '\r',
  ],
  ...[
    '-',
    '+',
    '=',
    '#',
    ':',
    '1',
    '9',
    '>',
    '<',
    '&',
    '& ',
    '&#',
    '&a',
    '*',
    '_',
    '[',
    ']',
    '|',
    '~',
    '`',
    '\\',
  ],
  ...['www.', 'http://', 'x.com', 'foo@bar.com', ' #', ' -', '\n\u00A0', '\u00A0\n', '.\n', ':-'],
];
const body = fc.array(fc.constantFrom(...PIECES), { maxLength: 40 }).map((parts) => parts.join(''));
/** Mostly prose, so that many bodies take the shortcut. */
const proseBody = fc
  .array(fc.constantFrom(...PIECES.slice(0, 32), 'mot', 'mot', 'Phrase.', '\n\n'), { maxLength: 40 })
  .map((parts) => parts.join(''));

describe('extractMarkdown shortcut for bodies without Markdown syntax', () => {
  it('gives the same text and heading as rendering with marked and reading the DOM back (property)', () => {
    fc.assert(
      fc.property(fc.oneof(body, proseBody), (md) => {
        expect(extractMarkdown(md)).toEqual(renderMarkdown(md));
      }),
      { seed: 0x6d61726b, numRuns: 3000 },
    );
  });

  it('joins soft-wrapped lines and keeps one paragraph per block', () => {
    const md = '\nPremière ligne\ncontinuée, « citée ».\n\n\nDeuxième\u00A0paragraphe : 12 % & plus.\n';
    expect(extractMarkdown(md)).toEqual({
      text: 'Première ligne continuée, « citée ».\n\nDeuxième paragraphe : 12 % & plus.',
      heading: '',
    });
    expect(extractMarkdown(md)).toEqual(renderMarkdown(md));
  });

  it('still renders syntax that only shows at the start of a line or in a table delimiter row', () => {
    for (const md of [
      'Titre\n===\n\nTexte.',
      'Un\n:-',
      '2024. Une année',
      'A  \nB',
      '    code',
      'x &amp; y',
    ]) {
      expect(extractMarkdown(md)).toEqual(renderMarkdown(md));
    }
  });
});

const SAFE_ENGINES = Object.fromEntries(
  ['javascript', 'js', 'coffee', 'coffeescript', 'cson'].map((name) => [
    name,
    (): never => {
      throw new Error('front matter language not allowed');
    },
  ]),
);

function viaGrayMatter(raw: string): { data: unknown; content: string } | { error: string } {
  try {
    const file = matter(raw, { engines: SAFE_ENGINES });
    return { data: file.data, content: file.content };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

function viaShortcut(raw: string): { data: unknown; content: string } | { error: string } {
  try {
    return readFrontMatter(raw);
  } catch (err) {
    return { error: (err as Error).message };
  }
}

const KEYS = [
  'id',
  'title',
  'a_b',
  'a-b',
  'x1',
  '_x',
  '1a',
  'true',
  'null',
  'constructor',
  '__proto__',
  'id ',
];
const VALUES = [
  ...['"x"', '"’é « »"', '""', '"a: b"', '"a #b"', '"a\\"b"', '"\\u00e9"', '"\t"', '"\u0085"', '"\u{1F600}"'],
  ...['"\uD800"', 'fr', 'true', 'True', 'yes', 'off', 'null', 'Null', '~', 'NaN', 'e1', 'abc-def', 'x_y'],
  ...[
    '2025-01-01',
    '12',
    '0x1',
    '.inf',
    "'single'",
    '"a" ',
    '"a" # c',
    '[1]',
    '{a: 1}',
    '&a x',
    '*a',
    '',
    '"a',
  ],
  ...['https://x.y', 'a b'],
];
const entry = fc.oneof(
  fc
    .tuple(fc.constantFrom(...KEYS), fc.constantFrom(': ', ':  ', ':', ' : '), fc.constantFrom(...VALUES))
    .map(([key, sep, value]) => key + sep + value),
  fc.constantFrom('', '# comment', '  nested: "x"', '- item', '...', '---x', 'key'),
);
const markdownFile = fc
  .tuple(
    fc.constantFrom('---\n', '---\r\n', '----\n', '---yaml\n', '\uFEFF---\n', '', 'Texte', '---'),
    fc.array(entry, { maxLength: 6 }),
    fc.constantFrom('\n---\n', '\n---', '\n---\n\n', '\n---\r\n', '\n----\n', '\n---x\n', '\n', ''),
    fc.constantFrom('Corps', '\nCorps\n', '', '\r\nCorps'),
  )
  .map(([open, lines, close, rest]) => open + lines.join('\n') + close + rest);

describe('readFrontMatter shortcut for simple front matter', () => {
  it('gives the same data, body and errors as gray-matter (property)', () => {
    fc.assert(
      fc.property(markdownFile, (raw) => {
        expect(viaShortcut(raw)).toEqual(viaGrayMatter(raw));
      }),
      { seed: 0x79616d6c, numRuns: 5000 },
    );
  });

  it('reads quoted strings and plain words as strings, in order', () => {
    const raw = '---\nid: azure-2025\ntitle: "Microsoft : l’accès coupé"\nlanguage: fr\n---\n\nTexte.';
    const read = readFrontMatter(raw);
    expect(read).toEqual({
      data: { id: 'azure-2025', title: 'Microsoft : l’accès coupé', language: 'fr' },
      content: '\nTexte.',
    });
    expect(Object.keys(read.data as object)).toEqual(['id', 'title', 'language']);
    expect(read).toEqual(viaGrayMatter(raw));
  });
});

/** The definition `normalizeText` implements with fewer passes. */
function normalizeLineByLine(raw: string): string {
  return raw
    .replace(/\r\n?|[\u000B\u000C\u0085\u2028\u2029]/g, '\n')
    .replace(/[\u00AD\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/g, '')
    .replace(/[\u0000-\u0008\u000E-\u001F\u007F-\u009F]/g, '')
    .replace(/[\t\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000]/g, ' ')
    .normalize('NFC')
    .split('\n')
    .map((line) => line.replace(/ {2,}/g, ' ').trim())
    .filter((line) => line.length > 0)
    .join('\n\n');
}

describe('normalizeText', () => {
  it('equals the line-by-line definition: clean, NFC, collapse spaces, trim lines, drop empty ones (property)', () => {
    fc.assert(
      fc.property(fc.oneof(body, fc.string({ unit: 'binary', maxLength: 60 })), (raw) => {
        expect(normalizeText(raw)).toBe(normalizeLineByLine(raw));
      }),
      { seed: 0x6e6663, numRuns: 5000 },
    );
  });
});
