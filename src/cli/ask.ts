import type { QaService } from '../rag/service.js';
import type { Language } from '../rag/types.js';
import type { CliOutput } from './io.js';
import { renderAnswer, renderFailures } from './render.js';

/** Brings the index up to date with the corpus directory; returns false when there is nothing to answer from. */
export async function ensureIndex(service: QaService, io: CliOutput): Promise<boolean> {
  const result = await service.refresh();
  if (result.failures.length > 0) io.err(renderFailures(result.failures));
  if (result.kind === 'corpus_empty') {
    io.err(result.message);
    return false;
  }
  const changed = result.added.length + result.changed.length + result.removed.length;
  if (changed > 0) io.err(`index updated: ${result.added.length} added, ${result.changed.length} changed, ${result.removed.length} removed (${(result.durationMs / 1000).toFixed(1)} s)`);
  return true;
}

/** `npm run ask -- "question"`: answers one question and returns the process exit code. */
export async function runAsk(service: QaService, question: string, options: { language?: Language; json?: boolean }, io: CliOutput): Promise<number> {
  if (!(await ensureIndex(service, io))) return 1;
  const result = await service.ask(question, options.language ? { language: options.language } : {});
  io.out(options.json ? JSON.stringify(result, null, 2) : renderAnswer(result));
  return result.kind === 'rejected' ? 2 : 0;
}
