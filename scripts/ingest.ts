import 'dotenv/config';
import cliProgress from 'cli-progress';
import { runIngest } from '../src/cli/ingest.js';
import { processOutput } from '../src/cli/io.js';
import { withApp } from '../src/cli/runtime.js';

const bar = new cliProgress.SingleBar(
  { format: '{phase} [{bar}] {value}/{total}', stream: process.stderr },
  cliProgress.Presets.shades_classic,
);
let started = false;
process.exitCode = await withApp(process.env, processOutput, ({ service }) =>
  runIngest(
    service,
    {
      update: (p) => {
        if (!started) {
          bar.start(p.total, p.done, { phase: p.phase });
          started = true;
        }
        bar.setTotal(p.total);
        bar.update(p.done, { phase: p.phase });
      },
      stop: () => bar.stop(),
    },
    processOutput,
  ),
);
