import { findVerbatim } from '../text/normalize.js';
import type { RetrievedChunk } from '../types.js';
import { NOT_IN_SOURCES } from './prompt.js';
import type { Quote } from './types.js';

/** A claim as the model wrote it: its text and the quotes it cites by passage number. */
export interface ParsedClaim {
  text: string;
  citations: { passage: number; quote: string }[];
}

/** A claim that survived verification, pointing at verified quotes by index. */
export interface VerifiedClaim {
  text: string;
  /** Indexes into the verified quotes. */
  quotes: number[];
}

/** Counts of one verification, for the citation-precision log and the LLM evaluation. */
export interface CitationStats {
  produced: number;
  verified: number;
  repointed: number;
  droppedClaims: number;
}

const CITATION = /\[(\d{1,2})\]\s*(?:[«"“]\s*([^»"”\n]+?)\s*[»"”])?/g;
const MIN_QUOTE_WORDS = 3;

/** Parses one line of model output. Lines without any citation are returned with no citations (and later dropped). */
export function parseClaimLine(line: string): ParsedClaim | undefined {
  const trimmed = line.replace(/^\s*(?:[-*•]|\d+[.)])\s+/, '').trim();
  if (trimmed === '' || trimmed === NOT_IN_SOURCES) return undefined;
  const citations: ParsedClaim['citations'] = [];
  for (const m of trimmed.matchAll(CITATION))
    citations.push({ passage: Number(m[1]), quote: (m[2] ?? '').trim() });
  const text = trimmed
    .replace(CITATION, ' ')
    .replace(/\s+([.,;:!?])/g, '$1')
    .replace(/\s+/g, ' ')
    .trim();
  return { text, citations };
}

/** True when the model said the passages do not answer (and said nothing else of substance). */
export function isDecline(output: string): boolean {
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.length > 0 && lines.every((l) => l.replace(/^[*`_]+|[*`_.]+$/g, '') === NOT_IN_SOURCES);
}

/**
 * Verifies claims against the passages they cite. A quote must be verbatim (modulo whitespace and apostrophe, quote
 * and dash variants) in its passage; if it is verbatim in another retrieved passage the citation is re-pointed; else
 * it is removed. A claim left without a verified quote is dropped. Quotes are returned as exact spans of the stored
 * documents, deduplicated.
 */
export class CitationVerifier {
  readonly quotes: Quote[] = [];
  readonly claims: VerifiedClaim[] = [];
  readonly stats: CitationStats = { produced: 0, verified: 0, repointed: 0, droppedClaims: 0 };

  constructor(private readonly passages: readonly RetrievedChunk[]) {}

  private locate(quote: string, passage: number): { quote: Quote; repointed: boolean } | undefined {
    if (quote.split(/\s+/).filter(Boolean).length < MIN_QUOTE_WORDS) return undefined;
    const order = [passage - 1, ...this.passages.keys()].filter(
      (i, at, all) => i >= 0 && i < this.passages.length && all.indexOf(i) === at,
    );
    for (const index of order) {
      const { chunk } = this.passages[index] as RetrievedChunk;
      const span = findVerbatim(chunk.text, quote, { wholeWords: true });
      if (!span) continue;
      const text = chunk.text.slice(span.start, span.end);
      return {
        repointed: index !== passage - 1,
        quote: {
          text,
          docId: chunk.docId,
          title: chunk.title,
          url: chunk.url,
          start: chunk.start + span.start,
          end: chunk.start + span.end,
          sentenceIndex: chunk.firstSentence,
          score: 1,
        },
      };
    }
    return undefined;
  }

  /** Verifies one claim; returns it when it keeps at least one verified quote. */
  add(claim: ParsedClaim): VerifiedClaim | undefined {
    const indexes: number[] = [];
    for (const citation of claim.citations) {
      if (citation.quote === '') continue;
      this.stats.produced += 1;
      const found = this.locate(citation.quote, citation.passage);
      if (!found) continue;
      this.stats.verified += 1;
      if (found.repointed) this.stats.repointed += 1;
      let index = this.quotes.findIndex(
        (q) => q.docId === found.quote.docId && q.start === found.quote.start && q.end === found.quote.end,
      );
      if (index < 0) index = this.quotes.push(found.quote) - 1;
      if (!indexes.includes(index)) indexes.push(index);
    }
    if (indexes.length === 0 || claim.text === '') {
      this.stats.droppedClaims += 1;
      return undefined;
    }
    const verified = { text: claim.text, quotes: indexes };
    this.claims.push(verified);
    return verified;
  }

  /** Share of produced quotes that were verified (1 when none was produced). */
  get precision(): number {
    return this.stats.produced === 0 ? 1 : this.stats.verified / this.stats.produced;
  }
}
