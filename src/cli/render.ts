import type { Answer, AskResult, PartialAnswer } from '../rag/service.js';
import type { LoadFailure } from '../rag/types.js';

function wrap(text: string, width: number, prefix: string): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines.map((l) => `${prefix}${l}`).join('\n');
}

/** Citation numbers: per source for extractive answers, per quote for LLM answers (whose claims cite quotes). */
function citationNumbers(answer: Answer): number[] {
  if (answer.answerer === 'llm') return answer.quotes.map((_, i) => i + 1);
  const bySource = new Map(answer.sources.map((s, i) => [s.docId, i + 1]));
  return answer.quotes.map((q) => bySource.get(q.docId) ?? 0);
}

/** The claim lines of an LLM answer, as streamed and as printed at the end. */
export function renderClaims(claims: PartialAnswer['claims'], width = 100): string {
  return claims
    .map((c) => wrap(`${c.text} ${c.quotes.map((i) => `[${i + 1}]`).join('')}`, width, '  '))
    .join('\n');
}

/** The quotes and sources of an answer (what follows the claims). */
export function renderQuotesAndSources(answer: Answer, width = 100): string {
  const numbers = citationNumbers(answer);
  const quotes = answer.quotes.map((q, i) => `${wrap(q.text, width - 4, '  > ')} [${numbers[i]}]`);
  const sources = answer.sources.map((s, i) => {
    const details = [s.source, s.date].filter(Boolean).join(', ');
    const cited =
      answer.answerer === 'llm'
        ? answer.quotes.flatMap((q, qi) => (q.docId === s.docId ? [numbers[qi]] : [])).join(', ')
        : String(i + 1);
    return `  [${cited}] ${s.title}${details ? ` (${details})` : ''}${s.url ? ` ${s.url}` : ''}`;
  });
  return [quotes.join('\n\n'), '', 'Sources:', ...sources].join('\n');
}

/** Renders an answer for a terminal: note, framing line, claims (LLM), numbered block quotes, sources. */
export function renderAnswer(result: AskResult, width = 100): string {
  switch (result.kind) {
    case 'rejected':
    case 'no_answer':
      return result.message;
    case 'answer':
      return [
        ...(result.note ? [result.note] : []),
        result.framing,
        '',
        ...(result.claims ? [renderClaims(result.claims, width), ''] : []),
        renderQuotesAndSources(result, width),
      ].join('\n');
  }
}

/** One line per file that could not be loaded. */
export function renderFailures(failures: readonly LoadFailure[]): string {
  return failures.map((f) => `skipped ${f.file}: ${f.reason}`).join('\n');
}
