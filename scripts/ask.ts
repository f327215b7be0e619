import 'dotenv/config';
import { parseArgs } from 'node:util';
import { runAsk } from '../src/cli/ask.js';
import { processOutput } from '../src/cli/io.js';
import { withApp } from '../src/cli/runtime.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { lang: { type: 'string' }, json: { type: 'boolean', default: false } },
});
const question = positionals.join(' ');
if (question.trim() === '') {
  console.error('usage: npm run ask -- "your question" [--lang fr|en] [--json]');
  process.exit(64);
}
const language = values.lang === 'fr' || values.lang === 'en' ? values.lang : undefined;
process.exitCode = await withApp(process.env, processOutput, ({ service }) =>
  runAsk(service, question, { ...(language ? { language } : {}), json: values.json ?? false }, processOutput),
);
