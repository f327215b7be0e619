import type { AskResult, StoredDocument } from '../../src/rag/service.js';
import type { SoakQuestion } from './questions.js';

/**
 * What is wrong with one outcome of `ask`, or `[]`: a known kind; an answer has a framing line, sources, and one or
 * more quotes each equal to the slice of the stored document it cites; a decline or a rejection has a message; a
 * hostile question with a known expectation (empty, too long) is rejected for that reason.
 */
export function problemsOf(
  asked: SoakQuestion,
  result: AskResult,
  getDocument: (id: string) => StoredDocument | undefined,
): string[] {
  const problems: string[] = [];
  switch (result.kind) {
    case 'answer': {
      if (result.framing.trim() === '') problems.push('answer without a framing line');
      if (result.quotes.length === 0) problems.push('answer without quotes');
      if (result.sources.length === 0) problems.push('answer without sources');
      for (const quote of result.quotes) {
        const text = getDocument(quote.docId)?.text;
        if (text === undefined) problems.push(`quote cites an unknown document ${quote.docId}`);
        else if (text.slice(quote.start, quote.end) !== quote.text || !text.includes(quote.text))
          problems.push(`quote not verbatim in ${quote.docId}: ${JSON.stringify(quote.text.slice(0, 80))}`);
      }
      break;
    }
    case 'no_answer':
      if (result.message.trim() === '') problems.push('decline without a message');
      break;
    case 'rejected':
      if (result.message.trim() === '') problems.push('rejection without a message');
      break;
    default:
      problems.push(`unknown outcome kind ${JSON.stringify((result as { kind?: unknown }).kind)}`);
  }
  if (asked.expect === 'empty' || asked.expect === 'too_long') {
    const reason = result.kind === 'rejected' ? result.reason : result.kind;
    if (reason !== asked.expect) problems.push(`expected a rejection (${asked.expect}), got ${reason}`);
  }
  return problems;
}

/**
 * The parts of an outcome that must not depend on what else is being answered at the same time: the kind, the
 * rejection reason, the cited spans. Answer ids are random and left out.
 */
export function signatureOf(result: AskResult): string {
  switch (result.kind) {
    case 'answer':
      return `answer ${result.quotes.map((q) => `${q.docId}@${q.start}-${q.end}`).join(',')}`;
    case 'no_answer':
      return 'no_answer';
    case 'rejected':
      return `rejected ${result.reason}`;
  }
}
