import type { Interface as ReadlineInterface } from 'node:readline/promises';
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
export async function runChat(service: QaService, rl: ReadlineInterface, io: CliOutput): Promise<number> {
  if (!(await ensureIndex(service, io))) return 1;
  const docs = service.listDocuments();
  io.out(`Verbatim: ${docs.length} document(s). Posez une question / ask a question (/reset, /quit).`);
  let context: string[] = [];
  for (;;) {
    let line: string;
    try {
      line = await rl.question('> ');
    } catch {
      break;
    }
    const question = line.trim();
    if (question === '/quit' || question === '/exit') break;
    if (question === '/reset') {
      context = [];
      io.out('(conversation reset)');
      continue;
    }
    if (question === '') continue;
    const result = await service.ask(question, { context });
    io.out(`${renderAnswer(result)}\n`);
    if (result.kind !== 'rejected') context = [...context, question].slice(-CONTEXT_TURNS);
  }
  return 0;
}
