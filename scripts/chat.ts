import 'dotenv/config';
import { createInterface } from 'node:readline/promises';
import { runChat } from '../src/cli/chat.js';
import { processOutput } from '../src/cli/io.js';
import { withApp } from '../src/cli/runtime.js';

const rl = createInterface({ input: process.stdin, output: process.stdout });
rl.setPrompt('> ');
// Take the iterator now: lines piped in while the index loads would otherwise be dropped.
const lines = rl[Symbol.asyncIterator]();
process.exitCode = await withApp(process.env, processOutput, ({ service }) =>
  runChat(service, { [Symbol.asyncIterator]: () => lines }, processOutput, () => rl.prompt()),
);
rl.close();
