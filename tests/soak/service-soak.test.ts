import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadQuestionSet } from '../../src/cli/eval.js';
import { CHILD_EXEC_ARGV, growth, mib } from './memory.js';
import { hostileQuestions, questionMix } from './questions.js';
import type { ServiceSoakOptions, ServiceSoakReport } from './service-soak.child.js';

/** `npm run soak` (SOAK=1) asks 10,000 questions; the default run 1,000. */
const SOAK = process.env.SOAK === '1';
const OPTIONS: ServiceSoakOptions = {
  corpusDir: 'corpus',
  questionsFile: 'tests/fixtures/eval-questions.json',
  warmup: 200,
  questions: SOAK ? 10_000 : 1_000,
  concurrency: 32,
  seed: Number(process.env.SOAK_SEED ?? 20_260_214),
};
const CHILD = new URL('./service-soak.child.ts', import.meta.url).pathname;

function runSoak(options: ServiceSoakOptions): Promise<ServiceSoakReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...CHILD_EXEC_ARGV, CHILD, JSON.stringify(options)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = stdout.split('\n').find((l) => l.startsWith('SOAK-REPORT '));
      if (code === 0 && line) resolve(JSON.parse(line.slice('SOAK-REPORT '.length)) as ServiceSoakReport);
      else reject(new Error(`service soak child exited with ${code}:\n${stderr}\n${stdout}`));
    });
  });
}

describe(`service soak: ${OPTIONS.questions} questions, ${OPTIONS.concurrency} in flight`, () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  let report: ServiceSoakReport;

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    report = await runSoak(OPTIONS);
    const { warmup, end } = report.memory;
    console.info(
      `service soak: ${report.asked} questions (+${OPTIONS.warmup} warm-up), ${OPTIONS.concurrency} in flight, ` +
        `outcomes ${JSON.stringify(report.outcomes)}, exceptions ${report.exceptions.count}, ` +
        `unhandled rejections ${report.unhandledRejections.count}, heap after warm-up ${mib(warmup.heapUsed)} ` +
        `-> after soak ${mib(end.heapUsed)} (x${growth(end, warmup).toFixed(3)}), ` +
        `samples ${report.memory.samples.map((s) => mib(s.heapUsed)).join(' ')}, rss ${mib(end.rss)}`,
    );
  }, 300_000);
  afterAll(() => {
    process.off('unhandledRejection', onUnhandled);
  });

  it('draws a reproducible mix of evaluation, unanswerable, hostile and follow-up questions', async () => {
    const set = await loadQuestionSet(OPTIONS.questionsFile);
    const options = { count: 500, seed: 7, maxQuestionLength: 500 };
    const mix = questionMix(set, options);
    expect(questionMix(set, options)).toEqual(mix);
    expect(new Set(mix.map((q) => q.category))).toEqual(
      new Set(['answerable', 'unanswerable', 'hostile', 'follow_up']),
    );
    expect(new Set(mix.filter((q) => q.category === 'hostile').map((q) => q.label)).size).toBe(
      hostileQuestions(500).length,
    );
  });

  it('every question resolves to a valid outcome, with verbatim quotes, and none throws', () => {
    expect(report.exceptions).toEqual({ count: 0, examples: [] });
    expect(report.problems).toEqual({ count: 0, examples: [] });
    expect(Object.values(report.outcomes).reduce((a, b) => a + b, 0)).toBe(OPTIONS.questions);
    expect(report.outcomes.answer).toBeGreaterThan(0);
    expect(report.outcomes.no_answer).toBeGreaterThan(0);
    expect(report.outcomes.rejected).toBeGreaterThan(0);
    expect(report.maxInFlight).toBe(OPTIONS.concurrency);
  });

  it('answers the same question the same way however many others are in flight', () => {
    expect(report.inconsistent).toEqual({ count: 0, examples: [] });
  });

  it('leaves no unhandled rejection, in the soaked process or here', () => {
    expect(report.unhandledRejections).toEqual({ count: 0, examples: [] });
    expect(unhandled).toEqual([]);
  });

  it('ends with a heap within 10% of the heap after the warm-up', () => {
    expect(growth(report.memory.end, report.memory.warmup)).toBeLessThanOrEqual(1.1);
  });
});
