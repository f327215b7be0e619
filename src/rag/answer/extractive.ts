import type { EmbeddingsInterface } from '@langchain/core/embeddings';
import { contentWords, coverage, keySet } from './coverage.js';
import { canAnswer, type ExpectedAnswer } from './question-type.js';
import type { VerbatimEmbeddings } from '../embeddings/types.js';
import type { RetrievedChunk } from '../types.js';
import type { QuoteCandidate, VerifiableDocument } from './verify.js';

/** Tuning of the extractive answerer. */
export interface ExtractiveOptions {
  /** At most this many quotes. */
  maxQuotes: number;
  /** A sentence scoring below this is never quoted; when none passes, the question gets `no_answer`. */
  minScore: number;
  /** Secondary quotes must score at least this share of the best one. */
  secondaryRatio: number;
}

/** A candidate sentence with the signals that scored it. */
export interface ScoredSentence extends QuoteCandidate {
  sentenceIndex: number;
  cosine: number;
  overlap: number;
  prior: number;
}

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i += 1) {
    const x = a[i] as number;
    const y = b[i] as number;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

/**
 * Scores every sentence of the retrieved passages against the question (embedding similarity, shared content
 * terms, and the rank of the passage it came from) and returns them best first.
 */
export async function scoreSentences(
  question: string,
  queryVector: number[],
  retrieved: readonly RetrievedChunk[],
  getDocument: (id: string) => VerifiableDocument | undefined,
  embeddings: EmbeddingsInterface & Pick<VerbatimEmbeddings, 'embedDocumentsToFloat32'>,
): Promise<ScoredSentence[]> {
  const topScore = retrieved[0]?.score ?? 1;
  const seen = new Map<string, { docId: string; sentenceIndex: number; text: string; prior: number }>();
  for (const { chunk, score } of retrieved) {
    const doc = getDocument(chunk.docId);
    if (!doc) continue;
    const sentences = doc.sentences;
    for (let i = chunk.firstSentence; i <= chunk.lastSentence; i += 1) {
      const span = sentences[i];
      if (!span) continue;
      const key = `${chunk.docId}#${i}`;
      const prior = score / topScore;
      const existing = seen.get(key);
      if (!existing || existing.prior < prior)
        seen.set(key, {
          docId: chunk.docId,
          sentenceIndex: i,
          text: doc.text.slice(span.start, span.end),
          prior,
        });
    }
  }
  const candidates = [...seen.values()];
  if (candidates.length === 0) return [];
  const texts = candidates.map((c) => c.text);
  const vectors: ArrayLike<number>[] = embeddings.embedDocumentsToFloat32
    ? await embeddings.embedDocumentsToFloat32(texts)
    : await embeddings.embedDocuments(texts);
  const questionWords = contentWords(question);
  return candidates
    .map((c, i) => {
      const cos = cosine(queryVector, vectors[i] ?? []);
      const overlap = coverage(questionWords, keySet(c.text));
      // Not `{ ...c, … }`: a spread plus further properties gives each object a hidden class of its own in V8.
      return {
        docId: c.docId,
        sentenceIndex: c.sentenceIndex,
        text: c.text,
        prior: c.prior,
        cosine: cos,
        overlap,
        score: 0.55 * cos + 0.3 * overlap + 0.15 * c.prior,
      };
    })
    .sort((a, b) => b.score - a.score);
}

/**
 * Picks the quotes among scored sentences: only sentences that can answer the expected kind of answer (a date for
 * « quand »…), the best one, then others close enough to it, in score order. A question about the title quotes the
 * headline of the best document when its text starts with it.
 */
export function selectQuotes(
  scored: readonly ScoredSentence[],
  expected: ExpectedAnswer,
  options: ExtractiveOptions,
  getDocument: (id: string) => VerifiableDocument | undefined,
): ScoredSentence[] {
  if (expected === 'title') {
    const headline = scored.find(
      (s) => s.sentenceIndex === 0 && getDocument(s.docId)?.title.trim() === s.text.trim(),
    );
    if (headline) return [{ ...headline, score: Math.max(headline.score, options.minScore) }];
  }
  const eligible = scored.filter((s) => canAnswer(s.text, expected));
  const best = eligible[0];
  if (!best || best.score < options.minScore) return [];
  return eligible
    .filter((s) => s.score >= options.minScore && s.score >= best.score * options.secondaryRatio)
    .slice(0, options.maxQuotes);
}
