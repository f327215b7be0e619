import 'dotenv/config';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureIndex } from '../src/cli/ask.js';
import { evaluate, loadQuestionSet, printEvalReport } from '../src/cli/eval.js';
import { processOutput } from '../src/cli/io.js';
import { withApp } from '../src/cli/runtime.js';

const { values } = parseArgs({
  options: {
    questions: { type: 'string', default: 'tests/fixtures/eval-questions.json' },
    verbose: { type: 'boolean', short: 'v', default: false },
  },
});
const dataDir = await mkdtemp(join(tmpdir(), 'verbatim-eval-'));
try {
  process.exitCode = await withApp(
    { ...process.env, DATA_DIR: dataDir },
    processOutput,
    async ({ service }) => {
      if (!(await ensureIndex(service, processOutput))) return 1;
      const report = await evaluate(service, await loadQuestionSet(values.questions ?? ''));
      printEvalReport(report, processOutput, values.verbose);
      return 0;
    },
  );
} finally {
  await rm(dataDir, { recursive: true, force: true });
}
