import 'dotenv/config';
import { createInterface } from 'node:readline/promises';
import { runChat } from '../src/cli/chat.js';
import { processOutput } from '../src/cli/io.js';
import { withApp } from '../src/cli/runtime.js';

const rl = createInterface({ input: process.stdin, output: process.stdout });
process.exitCode = await withApp(process.env, processOutput, ({ service }) => runChat(service, rl, processOutput));
rl.close();
