import { Marked } from 'marked';
import { domToText, inlineText, parseHtmlDocument } from './dom.js';

const marked = new Marked({ gfm: true, breaks: false, async: false });

/**
 * Converts a Markdown body to plain text by rendering it with `marked` and reading the HTML back: heading markers,
 * emphasis, link targets (`[t](u)` -> `t`), images, code-fence markers and raw HTML tags disappear; each block
 * (paragraph, heading, list item, quote, code line) becomes one paragraph; the lines of a soft-wrapped paragraph are
 * joined by a space, as Markdown renders them. Typography is kept. Also returns the first `#` heading, if any.
 */
export function extractMarkdown(body: string): { text: string; heading: string } {
  const html = marked.parse(body, { async: false });
  const document = parseHtmlDocument(`<!doctype html><html><body>${html}</body></html>`);
  const root = document.body ?? document;
  return { text: domToText(root), heading: inlineText(document.querySelector('h1')) };
}
