import type { Logger } from '../../logger.js';
import { findVerbatim } from '../text/normalize.js';
import type { Quote } from './types.js';

/** A quote as proposed by an answerer, before verification. */
export interface QuoteCandidate {
  docId: string;
  text: string;
  sentenceIndex?: number;
  score: number;
}

/** What verification needs to know of a stored document. */
export interface VerifiableDocument {
  id: string;
  title: string;
  url: string;
  text: string;
  sentences: { start: number; end: number }[];
}

/**
 * Keeps only the candidates found verbatim in the stored text of the document they cite: comparing modulo whitespace,
 * invisible characters, Unicode composition and apostrophe/quote/dash/ellipsis variants, but never case, accents,
 * words or digits, and as whole words (a quote may not begin or end inside a word or a number of the text). A kept
 * quote's text is replaced by the exact stored span, so what is shown is always the article's own characters. Every
 * drop is logged.
 */
export function verifyQuotes(
  candidates: readonly QuoteCandidate[],
  getDocument: (id: string) => VerifiableDocument | undefined,
  logger: Logger,
): Quote[] {
  const quotes: Quote[] = [];
  for (const candidate of candidates) {
    const doc = getDocument(candidate.docId);
    const span =
      doc && candidate.text.trim() !== ''
        ? findVerbatim(doc.text, candidate.text, { wholeWords: true })
        : undefined;
    if (!doc || !span) {
      logger.warn(
        {
          docId: candidate.docId,
          quote: candidate.text.slice(0, 200),
          reason: doc ? 'not_verbatim' : 'unknown_document',
        },
        'quote dropped',
      );
      continue;
    }
    const sentenceIndex =
      candidate.sentenceIndex ??
      Math.max(
        0,
        doc.sentences.findIndex((s) => s.end > span.start),
      );
    quotes.push({
      text: doc.text.slice(span.start, span.end),
      docId: doc.id,
      title: doc.title,
      url: doc.url,
      start: span.start,
      end: span.end,
      sentenceIndex,
      score: candidate.score,
    });
  }
  return quotes;
}
