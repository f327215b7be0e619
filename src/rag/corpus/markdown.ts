import { Marked } from 'marked';
import { normalizeText } from '../text/normalize.js';
import { domToText, inlineText, parseHtmlDocument } from './dom.js';

const marked = new Marked({ gfm: true, breaks: false, async: false });

/**
 * Characters that could make `marked` render more than plain paragraphs: inline syntax, escapes, raw HTML, tables and
 * strikethrough, tabs and CR (indentation, line endings), and what `marked` or the DOM read as line breaks, spaces or
 * controls. `&` is harmless only when it cannot start an entity ({@link ENTITY}).
 */
const MARKUP = /[\\`*_[\]<>~|\t\r\u2028\u2029\uFEFF\u0000-\u0008\u000B-\u001F\u007F-\u009F]/;
const ENTITY = /&[A-Za-z0-9#]/;
/** Block syntax at the start of a line: indentation, headings, lists, rules, setext underlines, table delimiters. */
const BLOCK_START = /[ #=+:-]|\d+[.)]/y;

/** Whether a line starts with block syntax or ends with a space (two make a hard break). */
function hasBlockSyntax(body: string): boolean {
  for (let start = 0; ;) {
    const newline = body.indexOf('\n', start);
    const end = newline === -1 ? body.length : newline;
    BLOCK_START.lastIndex = start;
    if (BLOCK_START.test(body) || body.charCodeAt(end - 1) === 0x20) return true;
    if (newline === -1) return false;
    start = newline + 1;
  }
}

/**
 * A body with no Markdown syntax at all, with each paragraph on one line, which `normalizeText` turns into what
 * `marked` and `domToText` would make of it; `undefined` when the body might contain syntax. Skipping the render and
 * the DOM makes loading a large corpus of plain articles several times faster, with the same text.
 */
function plainText(body: string): string | undefined {
  if (MARKUP.test(body) || (body.includes('&') && ENTITY.test(body)) || hasBlockSyntax(body))
    return undefined;
  return body.replace(/(?<!\n)\n(?!\n)/g, ' ');
}

/**
 * Converts a Markdown body to plain text by rendering it with `marked` and reading the HTML back: heading markers,
 * emphasis, link targets (`[t](u)` -> `t`), images, code-fence markers and raw HTML tags disappear; each block
 * (paragraph, heading, list item, quote, code line) becomes one paragraph; the lines of a soft-wrapped paragraph are
 * joined by a space, as Markdown renders them. Typography is kept. Also returns the first `#` heading, if any.
 * A body without any Markdown syntax takes a shortcut to the same result.
 */
export function extractMarkdown(body: string): { text: string; heading: string } {
  const plain = plainText(body);
  if (plain !== undefined) return { text: normalizeText(plain), heading: '' };
  return renderMarkdown(body);
}

/** {@link extractMarkdown} without the shortcut, through `marked` and the DOM. Exported for tests. */
export function renderMarkdown(body: string): { text: string; heading: string } {
  const html = marked.parse(body, { async: false });
  const document = parseHtmlDocument(`<!doctype html><html><body>${html}</body></html>`);
  const root = document.body ?? document;
  return { text: domToText(root), heading: inlineText(document.querySelector('h1')) };
}
