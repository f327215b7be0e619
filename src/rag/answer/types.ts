import type { Language } from '../types.js';

/** A source passage quoted word for word. `text === document.text.slice(start, end)` for the cited document. */
export interface Quote {
  text: string;
  docId: string;
  title: string;
  url: string;
  start: number;
  end: number;
  /** Index of the quoted sentence in its document (the first one when a quote spans several). */
  sentenceIndex: number;
  /** How well the quote answers the question, for ordering; higher is better. */
  score: number;
}

/** A document cited by an answer. */
export interface SourceRef {
  docId: string;
  title: string;
  url: string;
  source: string;
  date: string;
}

/** An answer backed by verified verbatim quotes. */
export interface Answer {
  kind: 'answer';
  /** Unique id of this answer, for feedback and logs. */
  id: string;
  language: Language;
  /** One line introducing the quotes, in the asker's language. */
  framing: string;
  /** One to three quotes, best first, each verified verbatim against the stored document. */
  quotes: Quote[];
  /** The documents the quotes come from, in order of first citation. */
  sources: SourceRef[];
  /** Version of the corpus the answer was computed from. */
  corpusVersion: string;
  /** Which answerer produced it. */
  answerer: 'extractive' | 'llm';
  /** LLM answers: the claims in the asker's language, each citing verified quotes by index into `quotes`. */
  claims?: { text: string; quotes: number[] }[];
  /** LLM answers: how many quotes the model produced, how many were verified or re-pointed. */
  citations?: { produced: number; verified: number; repointed: number; precision: number };
  /** One line shown with an extractive answer that stands in for a failed LLM answer. */
  note?: string;
}

/** An LLM answer as it streams: the claims verified so far (never an unverified quote). */
export interface PartialAnswer {
  language: Language;
  /** The framing line the final answer will have. */
  framing: string;
  claims: readonly { text: string; quotes: number[] }[];
  quotes: readonly Quote[];
}

/** The corpus does not answer the question. */
export interface NoAnswer {
  kind: 'no_answer';
  id: string;
  language: Language;
  /** Says the sources do not answer, and what they cover. */
  message: string;
  /** Titles of the documents the corpus covers. */
  coverage: { docId: string; title: string }[];
  corpusVersion: string;
}

/** The question was refused before any retrieval. */
export interface Rejected {
  kind: 'rejected';
  reason: 'empty' | 'too_long' | 'corpus_empty';
  message: string;
  /** The length limit, when `reason` is `too_long`. */
  limit?: number;
}

/** Every outcome of asking a question. Expected outcomes are values, not exceptions. */
export type AskResult = Answer | NoAnswer | Rejected;
