import path from 'node:path';
import matter from 'gray-matter';
import { z } from 'zod';
import { detectDocumentLanguage } from '../text/language.js';
import { normalizeText } from '../text/normalize.js';
import type { SourceDocument } from '../types.js';
import { extractHtml } from './html.js';
import { computeContentHash, deriveDocumentId } from './ids.js';
import { extractMarkdown } from './markdown.js';

/** File extensions the loaders read, lowercase with the dot. */
export const SUPPORTED_EXTENSIONS = ['.md', '.markdown', '.txt', '.html', '.htm'] as const;
export type SupportedExtension = (typeof SUPPORTED_EXTENSIONS)[number];

/** Outcome of parsing one file: a document, or a short reason it was rejected. */
export type ParseResult = { ok: true; document: SourceDocument } | { ok: false; reason: string };

/** Input of {@link parseDocument}: a file name (used for the type, the default id and `path`) and its bytes. */
export interface ParseInput {
  /** File name or path relative to the corpus directory, with `/` separators. */
  fileName: string;
  content: Buffer | string;
}

interface Extracted {
  text: string;
  title?: string | undefined;
  id?: string | undefined;
  language?: string | undefined;
  source?: string | undefined;
  url?: string | undefined;
  date?: string | undefined;
}

type Outcome<T> = { ok: true; value: T } | { ok: false; reason: string };

const MAX_HEADLINE_CHARS = 200;
const MAX_CONTROL_SHARE = 0.05;

/** True when `fileName` has an extension that {@link parseDocument} reads. */
export function isSupportedFile(fileName: string): boolean {
  return (SUPPORTED_EXTENSIONS as readonly string[]).includes(path.posix.extname(fileName).toLowerCase());
}

function fail(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}

function decode(content: Buffer | string): Outcome<string> {
  let text: string;
  if (typeof content === 'string') {
    text = content;
  } else {
    if ((content[0] === 0xff && content[1] === 0xfe) || (content[0] === 0xfe && content[1] === 0xff)) {
      return fail('not valid UTF-8 (looks like UTF-16)');
    }
    if (content.includes(0)) return fail('binary content');
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(content);
    } catch {
      return fail('not valid UTF-8');
    }
  }
  if (text.includes('\u0000')) return fail('binary content');
  const controls = text.match(/[\u0001-\u0008\u000E-\u001F\u007F-\u009F]/g)?.length ?? 0;
  if (text.length > 0 && controls / text.length > MAX_CONTROL_SHARE) return fail('binary content');
  return { ok: true, value: text.replace(/^\uFEFF/, '') };
}

/** One line of metadata: normalised, on a single line. */
function oneLine(value: string): string {
  return normalizeText(value).replace(/\n+/g, ' ');
}

function looksLikeHeadline(line: string): boolean {
  return line.length <= MAX_HEADLINE_CHARS && !/[.…,;:]$/.test(line);
}

function titleFromFileName(fileName: string): string {
  const base = path.posix.basename(fileName);
  const stem = base.slice(0, base.length - path.posix.extname(base).length) || base;
  const words = oneLine(stem.replace(/[-_]+/g, ' '));
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? '';
}

const frontMatterValue = z.union([z.string(), z.number(), z.boolean(), z.date(), z.null()]).optional();
const FrontMatter = z.looseObject({
  id: frontMatterValue,
  title: frontMatterValue,
  language: frontMatterValue,
  source: frontMatterValue,
  url: frontMatterValue,
  date: frontMatterValue,
});

function scalarToString(value: z.infer<typeof frontMatterValue>): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) return undefined;
    const iso = value.toISOString();
    return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso;
  }
  const s = oneLine(String(value));
  return s === '' ? undefined : s;
}

/** gray-matter would `eval` a `---js` block: only YAML (the default) and JSON front matter are accepted. */
const refuse = (): never => {
  throw new Error('front matter language not allowed');
};
const SAFE_ENGINES = { javascript: refuse, js: refuse, coffee: refuse, coffeescript: refuse, cson: refuse };

/** `key: "text"` or `key: word`, where YAML (js-yaml's safe schema) can only mean the string as written. */
const SIMPLE_ENTRY =
  /^([A-Za-z][A-Za-z0-9_-]{0,63}): (?:"([^"\\\t\u0000-\u001F\u007F-\u009F\u2028\u2029\uFEFF\uFFFE\uFFFF\uD800-\uDFFF]*)"|([A-Za-z][A-Za-z0-9-]{0,127}))$/;
const YAML_KEYWORD = /^(?:true|True|TRUE|false|False|FALSE|null|Null|NULL)$/;

/**
 * What `matter(raw, { engines: SAFE_ENGINES })` returns as `data` and `content`, without calling it when there is no
 * front matter or when it is made only of one-line `key: "text"` or `key: word` entries (as the bench and most tools
 * write it): gray-matter and js-yaml cost about as much as the rest of parsing a short article. Anything else goes
 * through gray-matter, which throws on invalid YAML. Exported for tests.
 */
export function readFrontMatter(raw: string): { data: unknown; content: string } {
  if (!raw.startsWith('---') && !raw.startsWith('\uFEFF')) return { data: {}, content: raw };
  const close = raw.startsWith('---\n') ? raw.indexOf('\n---', 3) : -1;
  if (close > 3) {
    const data: Record<string, string> = {};
    let simple = true;
    for (const line of raw.slice(4, close).split('\n')) {
      const [, key, quoted, word] = SIMPLE_ENTRY.exec(line) ?? [];
      const value = quoted ?? word;
      if (
        key === undefined ||
        value === undefined ||
        Object.hasOwn(data, key) ||
        (word !== undefined && YAML_KEYWORD.test(word))
      ) {
        simple = false;
        break;
      }
      data[key] = value;
    }
    if (simple) {
      let content = raw.slice(close + 4);
      if (content.startsWith('\r')) content = content.slice(1);
      if (content.startsWith('\n')) content = content.slice(1);
      return { data, content };
    }
  }
  const file = matter(raw, { engines: SAFE_ENGINES });
  return { data: file.data, content: file.content };
}

function parseMarkdown(raw: string): Outcome<Extracted> {
  const opening = /^---([^\n\r]*)\r?\n/.exec(raw);
  const openingLanguage = opening?.[1]?.trim().toLowerCase() ?? '';
  if (opening && openingLanguage !== '' && !['yaml', 'yml', 'json'].includes(openingLanguage)) {
    return fail(`unsupported front matter language "${openingLanguage}"`);
  }
  if (opening && !/\r?\n---[ \t]*(?:\r?\n|$)/.test(raw.slice(opening[0].length - 1))) {
    return fail('front matter is not closed (missing ---)');
  }
  let file: { data: unknown; content: string };
  try {
    file = readFrontMatter(raw);
  } catch (err) {
    const detail = (err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err)).replace(
      /:\s*$/,
      '',
    );
    return fail(`front matter does not parse: ${detail}`);
  }
  const data: unknown = file.data ?? {};
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return fail('front matter does not parse: expected "key: value" lines');
  }
  const parsed = FrontMatter.safeParse(data);
  if (!parsed.success) {
    const field = parsed.error.issues[0]?.path.join('.') ?? '?';
    return fail(`front matter field "${field}" must be a single value`);
  }
  const fm = parsed.data;
  const { text, heading } = extractMarkdown(file.content);
  return {
    ok: true,
    value: {
      text,
      id: scalarToString(fm.id),
      title: scalarToString(fm.title) ?? (heading || undefined),
      language: scalarToString(fm.language),
      source: scalarToString(fm.source),
      url: scalarToString(fm.url),
      date: scalarToString(fm.date),
    },
  };
}

function extract(extension: SupportedExtension, raw: string): Outcome<Extracted> {
  switch (extension) {
    case '.md':
    case '.markdown':
      return parseMarkdown(raw);
    case '.txt':
      return { ok: true, value: { text: normalizeText(raw) } };
    case '.html':
    case '.htm': {
      const page = extractHtml(raw);
      return {
        ok: true,
        value: {
          text: page.text,
          title: oneLine(page.title) || undefined,
          language: page.lang || undefined,
          source: oneLine(page.source) || undefined,
          url: page.url || undefined,
          date: oneLine(page.date) || undefined,
        },
      };
    }
  }
}

function checkId(id: string): Outcome<string> {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(id)
    ? { ok: true, value: id }
    : fail(`invalid id "${id}" (use up to 128 letters, digits, ".", "_" and "-")`);
}

function checkLanguage(language: string): Outcome<string> {
  const m = /^([a-z]{2,3})(?:[-_][a-z0-9]{1,8})*$/i.exec(language);
  return m?.[1]
    ? { ok: true, value: m[1].toLowerCase() }
    : fail(`invalid language "${language}" (expected an ISO 639-1 code such as fr or en)`);
}

function checkUrl(url: string): Outcome<string> {
  try {
    const parsed = new URL(url);
    if (parsed.protocol === 'http:' || parsed.protocol === 'https:') return { ok: true, value: url };
  } catch {
    // reported below
  }
  return fail(`invalid url "${url}" (expected an http or https link)`);
}

/**
 * Parses one corpus file into a {@link SourceDocument}. Pure: no file system access.
 *
 * - `.md`/`.markdown`: YAML front matter (`id`, `title`, `language`, `source`, `url`, `date`) and a Markdown body
 *   converted to plain text (see `extractMarkdown`); the title falls back to the first `#` heading.
 * - `.txt`: the text as is, one paragraph per line.
 * - `.html`/`.htm`: the article found by Readability, with the page's metadata; `<html lang>` gives the language.
 *
 * Missing title: the first line of the text when it looks like a headline (at most 200 characters, not ending with
 * `.`, `…`, `,`, `;` or `:`; it stays in the text), else the file name. Other missing metadata: id from the file
 * name ({@link deriveDocumentId}), language detected
 * from the text (French when undecided), source, url and date empty. Rejected, with a short reason: unsupported
 * extension, invalid UTF-8, binary content, front matter that does not parse or has an invalid id, language or url,
 * and a text that is empty after extraction.
 */
export function parseDocument(input: ParseInput): ParseResult {
  const fileName = input.fileName.replaceAll('\\', '/');
  const extension = path.posix.extname(fileName).toLowerCase();
  if (!isSupportedFile(fileName)) {
    return fail(extension ? `unsupported file type ${extension}` : 'unsupported file type (no extension)');
  }
  const decoded = decode(input.content);
  if (!decoded.ok) return decoded;
  const extracted = extract(extension as SupportedExtension, decoded.value);
  if (!extracted.ok) return extracted;
  const { text } = extracted.value;
  if (text.trim() === '') return fail('empty after extraction');

  const id = checkId(extracted.value.id ?? deriveDocumentId(fileName));
  if (!id.ok) return id;
  const declaredLanguage = extracted.value.language;
  const language = declaredLanguage
    ? checkLanguage(declaredLanguage)
    : { ok: true as const, value: detectDocumentLanguage(text) ?? 'fr' };
  if (!language.ok) return language;
  const url = extracted.value.url ? checkUrl(extracted.value.url) : { ok: true as const, value: '' };
  if (!url.ok) return url;

  const headline = firstLine(text);
  const title =
    extracted.value.title ?? (looksLikeHeadline(headline) ? headline : titleFromFileName(fileName));
  const fields = {
    id: id.value,
    title,
    language: language.value,
    source: extracted.value.source ?? '',
    url: url.value,
    date: extracted.value.date ?? '',
    text,
  };
  return { ok: true, document: { ...fields, contentHash: computeContentHash(fields), path: fileName } };
}
