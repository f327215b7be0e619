import { createRequire } from 'node:module';
import { normalizeText } from '../text/normalize.js';

type ParseHtml = (html: string) => unknown;
/** linkedom, loaded on the first HTML to parse: importing it takes 0.2 s, and plain Markdown never needs it. */
let parseHTML: ParseHtml | undefined;

/** The few DOM members the extractors use, so the core does not depend on the DOM type library. */
export interface DomNode {
  nodeType: number;
  nodeName: string;
  textContent: string | null;
  childNodes: Iterable<DomNode>;
}

export interface DomElement extends DomNode {
  getAttribute(name: string): string | null;
  querySelector(selector: string): DomElement | null;
}

export interface DomDocument extends DomElement {
  documentElement: DomElement;
  body: DomElement | null;
}

const ELEMENT_NODE = 1;
const TEXT_NODE = 3;
const DOCUMENT_NODE = 9;
const FRAGMENT_NODE = 11;

const BLOCKS = new Set(
  (
    'ADDRESS ARTICLE BLOCKQUOTE BR CAPTION DD DETAILS DIV DL DT FIGCAPTION FIGURE H1 H2 H3 H4 H5 H6 HR LI MAIN OL P ' +
    'SECTION SUMMARY TABLE TBODY TD TFOOT TH THEAD TR UL'
  ).split(' '),
);
const SKIPPED = new Set(
  (
    'ASIDE BUTTON CANVAS EMBED FOOTER FORM HEAD HEADER IFRAME MAP NAV NOSCRIPT OBJECT SCRIPT SELECT STYLE SVG TEMPLATE ' +
    'TEXTAREA'
  ).split(' '),
);

/** Parses an HTML string into a document. */
export function parseHtmlDocument(html: string): DomDocument {
  parseHTML ??= (createRequire(import.meta.url)('linkedom') as { parseHTML: ParseHtml }).parseHTML;
  return (parseHTML(html) as { document: DomDocument }).document;
}

/**
 * Plain text of a DOM subtree with its block structure: each block element (paragraph, heading, list item, cell,
 * `<br>`-separated line) becomes one paragraph, inline markup is flattened, whitespace inside a block collapses,
 * `<pre>` keeps its lines. Scripts, styles, navigation, headers, footers, asides and forms are dropped.
 */
export function domToText(root: DomNode): string {
  const paragraphs: string[] = [];
  let inline = '';
  const flush = (): void => {
    const line = inline.replace(/\s+/g, ' ').trim();
    if (line) paragraphs.push(line);
    inline = '';
  };
  const visit = (node: DomNode): void => {
    if (node.nodeType === TEXT_NODE) {
      inline += node.textContent ?? '';
      return;
    }
    if (node.nodeType !== ELEMENT_NODE && node.nodeType !== DOCUMENT_NODE && node.nodeType !== FRAGMENT_NODE)
      return;
    const name = node.nodeName.toUpperCase();
    if (SKIPPED.has(name)) return;
    if (name === 'PRE') {
      flush();
      paragraphs.push(node.textContent ?? '');
      return;
    }
    const block = BLOCKS.has(name);
    if (block) flush();
    for (const child of node.childNodes) visit(child);
    if (block) flush();
  };
  visit(root);
  flush();
  return normalizeText(paragraphs.join('\n'));
}

/** Text content of an element on one line, or '' when absent. */
export function inlineText(node: DomNode | null | undefined): string {
  return (node?.textContent ?? '').replace(/\s+/g, ' ').trim();
}
