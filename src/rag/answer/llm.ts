import type { BaseChatModel } from '@langchain/core/language_models/chat_models';
import type { Language, RetrievedChunk } from '../types.js';
import {
  CitationVerifier,
  isDecline,
  parseClaimLine,
  type CitationStats,
  type VerifiedClaim,
} from './citations.js';
import { buildAnswerPrompt, type PromptMessage } from './prompt.js';
import type { Quote } from './types.js';

/** A chat model as the core uses it: LangChain's interface, whatever the provider. */
export type ChatModel = Pick<BaseChatModel, 'stream' | 'invoke'>;

/** Verified claims so far, for streaming. */
export interface PartialLlmAnswer {
  claims: readonly VerifiedClaim[];
  quotes: readonly Quote[];
}

/** What the LLM answerer produced. Failures are values: the caller falls back to the extractive answer. */
export type LlmOutcome =
  | { kind: 'answered'; claims: VerifiedClaim[]; quotes: Quote[]; stats: CitationStats; precision: number }
  | { kind: 'declined'; stats: CitationStats }
  | { kind: 'unverified'; stats: CitationStats; precision: number; output: string }
  | { kind: 'failed'; error: unknown };

/** LangChain message tuples from our prompt messages. */
export function toLangChain(messages: readonly PromptMessage[]): [string, string][] {
  return messages.map((m) => [m.role === 'user' ? 'human' : 'system', m.content]);
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content))
    return content
      .map((part) => (typeof part === 'string' ? part : typeof part?.text === 'string' ? part.text : ''))
      .join('');
  return '';
}

/** Sends one prompt and returns the whole text (for rewriting and translating questions). */
export async function complete(
  model: ChatModel,
  messages: readonly PromptMessage[],
  timeoutMs: number,
): Promise<string> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const result = await model.invoke(toLangChain(messages), { signal });
    return textOf(result.content).trim();
  } catch (err) {
    // LangChain drops the abort reason on invoke(); surface the timeout so it is reported as one.
    throw signal.aborted ? signal.reason : err;
  }
}

/**
 * Asks the model for a cited answer and verifies it line by line while it streams: each completed line is parsed
 * into a claim and its quotes, the quotes are checked against the passages, and `onProgress` receives the verified
 * claims so far. Nothing unverified is ever passed on.
 */
export async function answerWithLlm(
  model: ChatModel,
  question: string,
  language: Language,
  passages: readonly RetrievedChunk[],
  options: { timeoutMs: number; onProgress?: (partial: PartialLlmAnswer) => void },
): Promise<LlmOutcome> {
  const verifier = new CitationVerifier(passages);
  let output = '';
  let pending = '';
  const consume = (line: string) => {
    const claim = parseClaimLine(line);
    if (claim && verifier.add(claim))
      options.onProgress?.({ claims: [...verifier.claims], quotes: [...verifier.quotes] });
  };
  try {
    const stream = await model.stream(toLangChain(buildAnswerPrompt(question, language, passages)), {
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    for await (const chunk of stream) {
      const text = textOf(chunk.content);
      output += text;
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) consume(line);
    }
    consume(pending);
  } catch (error) {
    // Claims already verified (and possibly shown while streaming) stand; only an answer with none falls back.
    if (verifier.claims.length === 0) return { kind: 'failed', error };
  }
  if (isDecline(output)) return { kind: 'declined', stats: verifier.stats };
  if (verifier.claims.length === 0)
    return { kind: 'unverified', stats: verifier.stats, precision: verifier.precision, output };
  return {
    kind: 'answered',
    claims: [...verifier.claims],
    quotes: [...verifier.quotes],
    stats: verifier.stats,
    precision: verifier.precision,
  };
}
