import type { PartialAnswer, QaService } from '../rag/service.js';
import type { Language } from '../rag/types.js';
import type { CliOutput } from './io.js';
import { renderAnswer, renderClaims, renderFailures, renderQuotesAndSources } from './render.js';

/** Brings the index up to date with the corpus directory; returns false when there is nothing to answer from. */
export async function ensureIndex(service: QaService, io: CliOutput): Promise<boolean> {
  const result = await service.refresh();
  if (result.failures.length > 0) io.err(renderFailures(result.failures));
  if (result.kind === 'corpus_empty') {
    io.err(result.message);
    return false;
  }
  const changed = result.added.length + result.changed.length + result.removed.length;
  if (changed > 0)
    io.err(
      `index updated: ${result.added.length} added, ${result.changed.length} changed, ${result.removed.length} removed (${(result.durationMs / 1000).toFixed(1)} s)`,
    );
  return true;
}

/** `npm run ask -- "question"`: answers one question and returns the process exit code. */
export async function runAsk(
  service: QaService,
  question: string,
  options: { language?: Language; json?: boolean },
  io: CliOutput,
): Promise<number> {
  if (!(await ensureIndex(service, io))) return 1;
  let shown = 0;
  const stream = (partial: PartialAnswer) => {
    if (shown === 0) io.out(`${partial.framing}\n`);
    for (const claim of partial.claims.slice(shown)) io.out(renderClaims([claim]));
    shown = partial.claims.length;
  };
  const result = await service.ask(question, {
    ...(options.language ? { language: options.language } : {}),
    ...(options.json ? {} : { onProgress: stream }),
  });
  if (options.json) io.out(JSON.stringify(result, null, 2));
  else if (shown > 0 && result.kind === 'answer' && result.answerer === 'llm') {
    const rest = renderClaims((result.claims ?? []).slice(shown));
    io.out(`${rest ? `${rest}\n` : ''}\n${renderQuotesAndSources(result)}`);
  } else io.out(renderAnswer(result));
  return result.kind === 'rejected' ? 2 : 0;
}
