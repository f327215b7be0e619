import { Readability } from '@mozilla/readability';
import { domToText, inlineText, parseHtmlDocument, type DomDocument, type DomNode } from './dom.js';

/** What an HTML page yields: the article text and whatever metadata the page declares ('' when absent). */
export interface HtmlExtraction {
  text: string;
  title: string;
  url: string;
  date: string;
  source: string;
  /** The `<html lang>` attribute as written. */
  lang: string;
}

function meta(document: DomDocument, selector: string): string {
  return document.querySelector(selector)?.getAttribute('content')?.trim() ?? '';
}

function absoluteHttpUrl(value: string): string {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : '';
  } catch {
    return '';
  }
}

function readMetadata(document: DomDocument): Omit<HtmlExtraction, 'text'> {
  const time = document.querySelector('time[datetime]')?.getAttribute('datetime')?.trim() ?? '';
  return {
    title: meta(document, 'meta[property="og:title"]') || inlineText(document.querySelector('title')),
    url:
      absoluteHttpUrl(document.querySelector('link[rel="canonical"]')?.getAttribute('href')?.trim() ?? '') ||
      absoluteHttpUrl(meta(document, 'meta[property="og:url"]')),
    date: meta(document, 'meta[property="article:published_time"]') || time,
    source: meta(document, 'meta[property="og:site_name"]'),
    lang: document.documentElement.getAttribute('lang')?.trim() ?? '',
  };
}

/**
 * Extracts the article of an HTML page with Mozilla Readability (over linkedom), keeping its paragraphs. When
 * Readability finds no article, falls back to the whole body minus scripts, styles, navigation, headers, footers
 * and asides. Readability leaves out a heading that repeats the title. Title: Readability's, else `og:title`, else
 * `<title>`; URL: canonical link, else `og:url` (absolute http(s) only); date: `article:published_time`, else the
 * first `<time datetime>`; source: `og:site_name`.
 */
export function extractHtml(html: string): HtmlExtraction {
  const document = parseHtmlDocument(html);
  const metadata = readMetadata(document);
  let text = '';
  let title = '';
  let source = '';
  try {
    const article = new Readability<DomNode>(
      document as unknown as ConstructorParameters<typeof Readability>[0],
      {
        serializer: (node) => node as unknown as DomNode,
      },
    ).parse();
    if (article?.content) text = domToText(article.content);
    title = article?.title?.trim() ?? '';
    source = article?.siteName?.trim() ?? '';
  } catch {
    text = '';
  }
  if (!text) {
    const fresh = parseHtmlDocument(html);
    text = fresh.body ? domToText(fresh.body) : '';
  }
  return {
    ...metadata,
    text,
    title: title || metadata.title,
    source: metadata.source || source,
  };
}
