/**
 * The measured part of tests/soak/service-soak.test.ts, in its own process (`node --expose-gc --import tsx`), so
 * that the heap it reports is the service's and nothing of vitest's. Builds the real app on the given corpus in a
 * temporary DATA_DIR, asks a warm-up batch then the soak batch with `concurrency` questions in flight, checks every
 * outcome, and prints one line `SOAK-REPORT {json}` ({@link ServiceSoakReport}) on stdout.
 */
import { join } from 'node:path';
import { loadQuestionSet } from '../../src/cli/eval.js';
import { loadConfig } from '../../src/config.js';
import { createSilentLogger } from '../../src/logger.js';
import { createApp } from '../../src/main.js';
import { temporaryDirectory } from '../helpers/documents.js';
import { settledMemory, type MemorySample } from './memory.js';
import { problemsOf, signatureOf } from './outcomes.js';
import { questionMix, type SoakQuestion } from './questions.js';

export interface ServiceSoakOptions {
  corpusDir: string;
  questionsFile: string;
  warmup: number;
  questions: number;
  concurrency: number;
  seed: number;
}

export interface ServiceSoakReport {
  options: ServiceSoakOptions;
  /** Soak phase only (the warm-up is checked the same way, and its problems are counted too). */
  asked: number;
  outcomes: Record<string, number>;
  byCategory: Record<string, Record<string, number>>;
  /** Questions whose outcome broke a rule of {@link problemsOf}, warm-up included; the first few in `examples`. */
  problems: { count: number; examples: string[] };
  /** `ask` calls that threw, warm-up included. */
  exceptions: { count: number; examples: string[] };
  /** The same question (and context) answered differently from one time to the next. */
  inconsistent: { count: number; examples: string[] };
  unhandledRejections: { count: number; examples: string[] };
  maxInFlight: number;
  memory: {
    start: MemorySample;
    warmup: MemorySample;
    samples: { asked: number; heapUsed: number }[];
    end: MemorySample;
  };
}

const options = JSON.parse(process.argv[2] ?? '{}') as ServiceSoakOptions;
const limited = () => ({ count: 0, examples: [] as string[] });
const note = (into: { count: number; examples: string[] }, text: string) => {
  into.count += 1;
  if (into.examples.length < 10) into.examples.push(text);
};

const unhandledRejections = limited();
process.on('unhandledRejection', (reason) =>
  note(unhandledRejections, String((reason as Error)?.stack ?? reason)),
);

const data = await temporaryDirectory('verbatim-soak-');
const config = loadConfig({ CORPUS_DIR: options.corpusDir, DATA_DIR: join(data.path, 'data') });
const app = await createApp(config, createSilentLogger());
try {
  const refreshed = await app.service.refresh();
  if (refreshed.kind !== 'refreshed') throw new Error(`corpus not indexed: ${refreshed.kind}`);
  const set = await loadQuestionSet(options.questionsFile);
  const mix = questionMix(set, {
    count: options.warmup + options.questions,
    seed: options.seed,
    maxQuestionLength: config.MAX_QUESTION_LENGTH,
  });
  const getDocument = (id: string) => app.service.getDocument(id);

  const problems = limited();
  const exceptions = limited();
  const inconsistent = limited();
  const signatures = new Map<string, string>();
  const outcomes: Record<string, number> = {};
  const byCategory: Record<string, Record<string, number>> = {};
  let inFlight = 0;
  let maxInFlight = 0;

  const askOne = async (asked: SoakQuestion, counted: boolean) => {
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      const result = await app.service.ask(asked.question, {
        ...(asked.context ? { context: asked.context } : {}),
        ...(asked.language ? { language: asked.language } : {}),
      });
      for (const problem of problemsOf(asked, result, getDocument))
        note(problems, `${asked.category} ${asked.label}: ${problem}`);
      const key = JSON.stringify([asked.question, asked.context, asked.language]);
      const signature = signatureOf(result);
      const first = signatures.get(key);
      if (first === undefined) signatures.set(key, signature);
      else if (first !== signature) note(inconsistent, `${asked.label}: ${first} then ${signature}`);
      if (counted) {
        outcomes[result.kind] = (outcomes[result.kind] ?? 0) + 1;
        const category = (byCategory[asked.category] ??= {});
        const kind = result.kind === 'rejected' ? `rejected ${result.reason}` : result.kind;
        category[kind] = (category[kind] ?? 0) + 1;
      }
    } catch (err) {
      note(exceptions, `${asked.label}: ${String((err as Error)?.stack ?? err)}`);
    } finally {
      inFlight -= 1;
    }
  };

  /** Asks `batch` with `concurrency` questions in flight. */
  const run = async (batch: SoakQuestion[], counted: boolean) => {
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < batch.length; i = next++) await askOne(batch[i] as SoakQuestion, counted);
    };
    await Promise.all(Array.from({ length: options.concurrency }, worker));
  };

  const start = await settledMemory();
  await run(mix.slice(0, options.warmup), false);
  const warmup = await settledMemory();
  // The soak in four parts, the heap read between them: a leak shows as a rising line, not just a last figure.
  const samples: { asked: number; heapUsed: number }[] = [];
  const part = Math.ceil(options.questions / 4);
  for (let from = 0; from < options.questions; from += part) {
    const to = Math.min(options.questions, from + part);
    await run(mix.slice(options.warmup + from, options.warmup + to), true);
    samples.push({ asked: to, heapUsed: (await settledMemory()).heapUsed });
  }
  const end = await settledMemory();

  const report: ServiceSoakReport = {
    options,
    asked: options.questions,
    outcomes,
    byCategory,
    problems,
    exceptions,
    inconsistent,
    unhandledRejections,
    maxInFlight,
    memory: { start, warmup, samples, end },
  };
  process.stdout.write(`SOAK-REPORT ${JSON.stringify(report)}\n`);
} finally {
  await app.close();
  await data.cleanup();
}
