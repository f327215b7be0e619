import type { QaService } from '../rag/service.js';
import type { CliOutput } from './io.js';
import { ensureIndex } from './ask.js';
import { renderAnswer } from './render.js';

/** How many earlier questions a follow-up is read with. */
const CONTEXT_TURNS = 2;

/**
 * `npm run chat`: an interactive session. Each question is read with the previous ones, so a follow-up such as
 * « et Amazon ? » is understood. `/reset` forgets them, `/quit` (or Ctrl-D) ends the session.
 */
export async function runChat(
  service: QaService,
  lines: AsyncIterable<string>,
  io: CliOutput,
  prompt: () => void = () => undefined,
): Promise<number> {
  if (!(await ensureIndex(service, io))) return 1;
  io.out(
    `Verbatim: ${service.documentCount} document(s). Posez une question / ask a question (/reset, /quit).`,
  );
  let context: string[] = [];
  prompt();
  for await (const line of lines) {
    const question = line.trim();
    if (question === '/quit' || question === '/exit') break;
    if (question === '/reset') {
      context = [];
      io.out('(conversation reset)');
      prompt();
      continue;
    }
    if (question === '') {
      prompt();
      continue;
    }
    const result = await service.ask(question, { context });
    io.out(`${renderAnswer(result)}\n`);
    if (result.kind !== 'rejected') context = [...context, question].slice(-CONTEXT_TURNS);
    prompt();
  }
  return 0;
}
