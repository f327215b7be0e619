import { describe, expect, it } from 'vitest';
import {
  computeContentHash,
  deriveDocumentId,
  parseDocument,
  SUPPORTED_EXTENSIONS,
  type ParseResult,
} from '../../../src/rag/corpus/index.js';
import { DOCUMENT_SAMPLE_CHARS, detectLanguage } from '../../../src/rag/text/language.js';
import type { SourceDocument } from '../../../src/rag/types.js';

function parsed(fileName: string, content: Buffer | string): SourceDocument {
  const result = parseDocument({ fileName, content });
  if (!result.ok) throw new Error(`expected ${fileName} to parse, got: ${result.reason}`);
  return result.document;
}

function reason(fileName: string, content: Buffer | string): string {
  const result: ParseResult = parseDocument({ fileName, content });
  if (result.ok) throw new Error(`expected ${fileName} to be rejected`);
  return result.reason;
}

describe('parseDocument: Markdown', () => {
  it('reads every front matter field and keeps the body typography', () => {
    const doc = parsed(
      'azure.md',
      [
        '---',
        'id: azure-2025',
        'title: "Microsoft : l’accès coupé"',
        'language: fr',
        'source: Le Quotidien',
        'url: https://example.org/azure',
        'date: "2025-09-26T08:00:00+02:00"',
        '---',
        '',
        'Selon lui, « l’entreprise ne surveille pas » – affirme-t-il…',
      ].join('\n'),
    );
    expect(doc).toMatchObject({
      id: 'azure-2025',
      title: 'Microsoft : l’accès coupé',
      language: 'fr',
      source: 'Le Quotidien',
      url: 'https://example.org/azure',
      date: '2025-09-26T08:00:00+02:00',
      text: 'Selon lui, « l’entreprise ne surveille pas » – affirme-t-il…',
      path: 'azure.md',
    });
    expect(doc.contentHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('strips heading markers, emphasis, link targets, images, code fences and HTML tags', () => {
    const doc = parsed(
      'formatting.md',
      [
        '# Le *titre* principal',
        '',
        'Du **gras**, de l’_italique_, un [lien](https://example.com "t") et ![une image](photo.png).',
        '',
        '> Une citation en <b>bloc</b>.',
        '',
        '- premier point',
        '- second point',
        '',
        '```ts',
        'const x = 1;',
        '```',
        '',
        '<script>alert("non")</script>',
        '<!-- un commentaire -->',
      ].join('\n'),
    );
    expect(doc.text).toBe(
      [
        'Le titre principal',
        'Du gras, de l’italique, un lien et .',
        'Une citation en bloc.',
        'premier point',
        'second point',
        'const x = 1;',
      ].join('\n\n'),
    );
    expect(doc.title).toBe('Le titre principal');
  });

  it('joins the lines of a soft-wrapped paragraph with a space, as Markdown renders them', () => {
    expect(parsed('wrap.md', 'Une phrase coupée\nen deux lignes.\n\nAutre paragraphe.').text).toBe(
      'Une phrase coupée en deux lignes.\n\nAutre paragraphe.',
    );
  });

  it('derives id, title and language when there is no front matter', () => {
    const doc = parsed('Élan Vital — 2025.md', 'The company said it would not comment on the report.');
    expect(doc).toMatchObject({
      id: 'elan-vital-2025',
      title: 'Élan Vital — 2025',
      language: 'en',
      source: '',
      url: '',
      date: '',
    });
  });

  it('takes the title from a short first line when there is no front matter title and no heading', () => {
    expect(parsed('a.md', 'Microsoft et Israël\n\nLe texte commence ici.').title).toBe('Microsoft et Israël');
  });

  it('writes a YAML date as YYYY-MM-DD and a numeric id as text', () => {
    const doc = parsed('n.md', '---\nid: 2024\ndate: 2025-09-26\n---\nTexte.');
    expect(doc.id).toBe('2024');
    expect(doc.date).toBe('2025-09-26');
  });

  it('keeps only the primary subtag of a regional language code', () => {
    expect(parsed('l.md', '---\nlanguage: fr-FR\n---\nTexte.').language).toBe('fr');
  });

  it('guesses the language of a long text from its beginning, however long the rest', () => {
    const french = 'Le ministère a réagi à l’enquête publiée par la société. ';
    const english = 'The company said that it would not comment on the report. ';
    const opening = french.repeat(Math.ceil(DOCUMENT_SAMPLE_CHARS / french.length));
    const text = opening + english.repeat(Math.ceil((4 * opening.length) / english.length));
    expect(detectLanguage(text)).toBe('en');
    expect(parsed('long.txt', text).language).toBe('fr');
    expect(parsed('short.txt', english + french + english).language).toBe('en');
  });

  it('defaults the language to French when the text gives no signal', () => {
    expect(parsed('azure.md', 'Azure 365').language).toBe('fr');
  });

  it('rejects front matter that does not parse', () => {
    expect(reason('bad.md', '---\ntitle: [unclosed\n---\nTexte.')).toMatch(/^front matter does not parse: /);
  });

  it('rejects front matter that is never closed', () => {
    expect(reason('open.md', '---\ntitle: Titre\nTexte sans fin de bloc.')).toBe(
      'front matter is not closed (missing ---)',
    );
  });

  it('rejects JavaScript front matter without evaluating it', () => {
    const probe = globalThis as { verbatimPwned?: boolean };
    expect(reason('js.md', '---js\n{ title: (globalThis.verbatimPwned = true, "x") }\n---\nTexte.')).toBe(
      'unsupported front matter language "js"',
    );
    expect(probe.verbatimPwned).toBeUndefined();
  });

  it('rejects a front matter field that is a list or a map', () => {
    expect(reason('list.md', '---\ntitle:\n  - a\n  - b\n---\nTexte.')).toBe(
      'front matter field "title" must be a single value',
    );
  });

  it('rejects front matter that is not key: value pairs', () => {
    expect(reason('scalar.md', '---\njuste une phrase\n---\nTexte.')).toMatch(/^front matter does not parse/);
  });

  it('rejects an id that could not be used in chunk ids', () => {
    expect(reason('id.md', '---\nid: "a b#c"\n---\nTexte.')).toMatch(/^invalid id "a b#c"/);
  });

  it('rejects a language that is not a language code', () => {
    expect(reason('lang.md', '---\nlanguage: français\n---\nTexte.')).toMatch(/^invalid language "français"/);
  });

  it('rejects a url that is not an http(s) link', () => {
    expect(reason('url.md', '---\nurl: "javascript:alert(1)"\n---\nTexte.')).toMatch(/^invalid url /);
  });

  it('rejects a file with front matter and no body', () => {
    expect(reason('empty.md', '---\ntitle: Rien\n---\n\n<!-- vide -->\n')).toBe('empty after extraction');
  });

  it('accepts the .markdown extension in any case', () => {
    expect(parsed('NOTE.MARKDOWN', 'Texte.').id).toBe('note');
  });
});

describe('parseDocument: plain text', () => {
  it('uses a headline-like first line as title and keeps it in the text', () => {
    const doc = parsed(
      'depeche.txt',
      'Gaza : Microsoft restreint Azure\nMicrosoft a agi.\nL’enquête continue.\n',
    );
    expect(doc.title).toBe('Gaza : Microsoft restreint Azure');
    expect(doc.text).toBe('Gaza : Microsoft restreint Azure\n\nMicrosoft a agi.\n\nL’enquête continue.');
  });

  it('takes the title from the file name when the first line is a sentence', () => {
    expect(parsed('note_de-synthese.txt', 'Microsoft a agi.\nLa suite.').title).toBe('Note de synthese');
  });

  it('normalises CRLF, a BOM and no-break spaces', () => {
    expect(parsed('crlf.txt', '\uFEFFTitre\r\nIl a dit\u00A0: « oui\u202F».\r\n').text).toBe(
      'Titre\n\nIl a dit : « oui ».',
    );
  });

  it('rejects a whitespace-only file', () => {
    expect(reason('blank.txt', ' \n\t\n')).toBe('empty after extraction');
  });
});

describe('parseDocument: HTML', () => {
  const page = `<!doctype html><html lang="en-GB"><head>
    <title>Page title | Wire</title>
    <meta property="og:title" content="Microsoft cuts off unit">
    <meta property="og:site_name" content="Example Wire">
    <meta property="article:published_time" content="2025-09-25T18:30:00Z">
    <link rel="canonical" href="https://wire.example.com/a">
    <script>var leaked = "script text";</script><style>p { color: red }</style>
  </head><body>
    <header><nav>Home | Tech | World</nav></header>
    <article>
      <h1>Microsoft cuts off unit</h1>
      <p>Microsoft said on Thursday that it had disabled services used by a unit of the Israeli ministry,
      after a review of a press report about the mass surveillance of civilians.</p>
      <p>The company&rsquo;s vice chair wrote that it does not provide such technology.<br>The review goes on.</p>
    </article>
    <aside>Sponsored content</aside><footer>&copy; Wire</footer>
  </body></html>`;

  it('extracts the article paragraphs and the page metadata', () => {
    const doc = parsed('news/wire.html', page);
    expect(doc).toMatchObject({
      id: 'wire',
      title: 'Microsoft cuts off unit',
      language: 'en',
      source: 'Example Wire',
      url: 'https://wire.example.com/a',
      date: '2025-09-25T18:30:00Z',
      path: 'news/wire.html',
    });
    expect(doc.text.split('\n\n')).toEqual([
      'Microsoft said on Thursday that it had disabled services used by a unit of the Israeli ministry, after a review of a press report about the mass surveillance of civilians.',
      'The company’s vice chair wrote that it does not provide such technology.',
      'The review goes on.',
    ]);
  });

  it('drops scripts, styles, navigation, asides and footers', () => {
    const { text } = parsed('wire.htm', page);
    for (const noise of ['script text', 'color: red', 'Home | Tech', 'Sponsored', '©']) {
      expect(text).not.toContain(noise);
    }
  });

  it('falls back to og:url, <title> and <time datetime> when the richer tags are missing', () => {
    const doc = parsed(
      'small.html',
      `<html><head><title>Un titre court</title><meta property="og:url" content="https://ex.fr/p">
       <link rel="canonical" href="/relative"></head>
       <body><p>Le ministère a réagi <time datetime="2025-09-27">samedi</time>.</p></body></html>`,
    );
    expect(doc).toMatchObject({
      title: 'Un titre court',
      url: 'https://ex.fr/p',
      date: '2025-09-27',
      language: 'fr',
      text: 'Le ministère a réagi samedi.',
    });
  });

  it('rejects a page with no text', () => {
    expect(
      reason('blank.html', '<html><head><title>Vide</title><script>x()</script></head><body></body></html>'),
    ).toBe('empty after extraction');
  });
});

describe('parseDocument: rejected content', () => {
  it('rejects an unsupported extension and names it', () => {
    expect(reason('scan.pdf', '%PDF-1.4')).toBe('unsupported file type .pdf');
    expect(reason('LICENSE', 'text')).toBe('unsupported file type (no extension)');
  });

  it('rejects bytes that are not valid UTF-8', () => {
    expect(reason('latin1.txt', Buffer.from('Le ministère', 'latin1'))).toBe('not valid UTF-8');
  });

  it('rejects UTF-16 files with a clear reason', () => {
    expect(reason('utf16.txt', Buffer.from('\uFEFFBonjour', 'utf16le'))).toBe(
      'not valid UTF-8 (looks like UTF-16)',
    );
  });

  it('rejects binary content with NUL bytes, as a Buffer or a string', () => {
    expect(reason('image.md', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x1a]))).toBe('binary content');
    expect(reason('nul.txt', 'abc\u0000def')).toBe('binary content');
  });

  it('rejects text made mostly of control characters', () => {
    expect(reason('ctrl.txt', 'ab\u0001\u0002\u0003\u0004cd')).toBe('binary content');
  });

  it('supports exactly the documented extensions', () => {
    expect(SUPPORTED_EXTENSIONS).toEqual(['.md', '.markdown', '.txt', '.html', '.htm']);
  });
});

describe('deriveDocumentId', () => {
  it('lowercases, folds accents and ligatures and replaces other characters with single dashes', () => {
    expect(deriveDocumentId('Élan Vital — 2025.md')).toBe('elan-vital-2025');
    expect(deriveDocumentId('sub/dir/Œuvre  d’art!!.TXT')).toBe('oeuvre-d-art');
    expect(deriveDocumentId('--a__b--.html')).toBe('a-b');
  });

  it('falls back to a stable hash-based id when nothing is left of the name', () => {
    const id = deriveDocumentId('東京.txt');
    expect(id).toMatch(/^doc-[0-9a-f]{12}$/);
    expect(deriveDocumentId('東京.txt')).toBe(id);
    expect(deriveDocumentId('大阪.txt')).not.toBe(id);
  });
});

describe('contentHash', () => {
  const base = { id: 'a', title: 'T', language: 'fr', source: '', url: '', date: '', text: 'Texte.' };

  it('is the same for the same content wherever the file lives', () => {
    expect(parsed('x/a.md', 'Texte.').contentHash).toBe(parsed('y/a.md', 'Texte.').contentHash);
    expect(computeContentHash(base)).toBe(computeContentHash({ ...base }));
  });

  it('changes when the text or any metadata field changes', () => {
    const hash = computeContentHash(base);
    for (const key of Object.keys(base) as Array<keyof typeof base>) {
      expect(computeContentHash({ ...base, [key]: `${base[key]}x` }), key).not.toBe(hash);
    }
  });

  it('does not confuse field boundaries', () => {
    expect(computeContentHash({ ...base, title: 'ab', source: '' })).not.toBe(
      computeContentHash({ ...base, title: 'a', source: 'b' }),
    );
  });
});
