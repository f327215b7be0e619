import type { AskResult } from '../rag/service.js';
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

/** Renders an answer for a terminal: framing line, numbered block quotes, sources. */
export function renderAnswer(result: AskResult, width = 100): string {
  switch (result.kind) {
    case 'rejected':
      return result.message;
    case 'no_answer':
      return result.message;
    case 'answer': {
      const sourceNumber = new Map(result.sources.map((s, i) => [s.docId, i + 1]));
      const quotes = result.quotes.map((q) => `${wrap(q.text, width - 4, '  > ')} [${sourceNumber.get(q.docId)}]`);
      const heading = result.language === 'fr' ? 'Sources' : 'Sources';
      const sources = result.sources.map((s, i) => {
        const details = [s.source, s.date].filter(Boolean).join(', ');
        return `  [${i + 1}] ${s.title}${details ? ` (${details})` : ''}${s.url ? ` ${s.url}` : ''}`;
      });
      return [result.framing, '', quotes.join('\n\n'), '', `${heading}:`, ...sources].join('\n');
    }
  }
}

/** One line per file that could not be loaded. */
export function renderFailures(failures: readonly LoadFailure[]): string {
  return failures.map((f) => `skipped ${f.file}: ${f.reason}`).join('\n');
}
