import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRandom,
  generateCorpus,
  generateDocuments,
  writeCorpusFiles,
} from '../../src/cli/bench-corpus.js';
import { loadConfig } from '../../src/config.js';
import { createSilentLogger } from '../../src/logger.js';
import { createApp, type App } from '../../src/main.js';
import type { SourceDocument } from '../../src/rag/types.js';
import { temporaryDirectory } from '../helpers/documents.js';

/** `CRASH_TRIALS=200 npx vitest run tests/e2e/crash.test.ts` for a longer run. */
const TRIALS = Number(process.env.CRASH_TRIALS ?? 20);
const SEED = Number(process.env.CRASH_SEED ?? 20261128);
const CHILD = new URL('../helpers/crash-child.ts', import.meta.url).pathname;

type State = Map<string, string>;

const env = (corpusDir: string, dataDir: string, persistDelay: string) => ({
  CORPUS_DIR: corpusDir,
  DATA_DIR: dataDir,
  INDEX_PERSIST_DELAY_MS: persistDelay,
  LOCAL_EMBEDDINGS_DIMENSIONS: '128',
});

async function openApp(corpusDir: string, dataDir: string): Promise<App> {
  return createApp(loadConfig(env(corpusDir, dataDir, '0')), createSilentLogger());
}

function served(app: App): State {
  return new Map(app.store.listDocuments().map((d) => [d.id, d.contentHash]));
}

async function corpusFingerprint(dir: string): Promise<Map<string, string>> {
  const files = (await readdir(dir)).sort();
  return new Map(
    await Promise.all(
      files.map(
        async (f) =>
          [
            f,
            createHash('sha256')
              .update(await readFile(join(dir, f)))
              .digest('hex'),
          ] as [string, string],
      ),
    ),
  );
}

const same = (a: State, b: State) => a.size === b.size && [...a].every(([id, hash]) => b.get(id) === hash);

/** Runs the child; kills it with SIGKILL `killAfterMs` after it starts refreshing (never, when undefined). */
function runChild(
  corpusDir: string,
  dataDir: string,
  persistDelay: string,
  killAfterMs?: number,
): Promise<{ killed: boolean; lines: string[]; refreshMs: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
      env: { ...process.env, ...env(corpusDir, dataDir, persistDelay) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: string[] = [];
    let started = 0;
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      if (line === 'refreshing') {
        started = performance.now();
        if (killAfterMs !== undefined) setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL' || code === 0)
        resolve({ killed: signal === 'SIGKILL', lines, refreshMs: performance.now() - started });
      else reject(new Error(`crash child exited with ${code}: ${stderr}`));
    });
  });
}

describe('crash consistency: SIGKILL during a refresh', () => {
  let root: { path: string; cleanup: () => Promise<void> };
  let oldCorpus: SourceDocument[];
  let newCorpus: SourceDocument[];
  let oldState: State;
  let newState: State;
  const fullRunMs = { update: 0, scratch: 0 };

  beforeAll(async () => {
    root = await temporaryDirectory('verbatim-crash-');
    oldCorpus = generateCorpus({ chunks: 600, seed: 5, chunksPerDocument: 2 });
    // The new version: a tenth of the documents removed, a tenth rewritten, a tenth added.
    const tenth = Math.floor(oldCorpus.length / 10);
    const rewritten = generateDocuments(tenth, { seed: 6, chunksPerDocument: 2, idPrefix: 'rewrite' }).map(
      (d, i) => ({
        ...d,
        id: (oldCorpus[tenth + i] as SourceDocument).id,
        path: (oldCorpus[tenth + i] as SourceDocument).path,
      }),
    );
    const added = generateDocuments(tenth, { seed: 7, chunksPerDocument: 2, idPrefix: 'added' });
    newCorpus = [...oldCorpus.slice(2 * tenth), ...rewritten, ...added];
    await writeCorpusFiles(join(root.path, 'old-corpus'), oldCorpus);
    await writeCorpusFiles(join(root.path, 'new-corpus'), newCorpus);

    const oldApp = await openApp(join(root.path, 'old-corpus'), join(root.path, 'old-data'));
    await oldApp.service.refresh();
    oldState = served(oldApp);
    await oldApp.close();
    // How long an uninterrupted refresh takes, to spread the kills over it.
    await cp(join(root.path, 'old-data'), join(root.path, 'update'), { recursive: true });
    fullRunMs.update = (
      await runChild(join(root.path, 'new-corpus'), join(root.path, 'update'), '2000')
    ).refreshMs;
    const calibration = await runChild(join(root.path, 'new-corpus'), join(root.path, 'calibration'), '2000');
    fullRunMs.scratch = calibration.refreshMs;
    const newApp = await openApp(join(root.path, 'new-corpus'), join(root.path, 'calibration'));
    newState = served(newApp);
    await newApp.close();
    expect(same(oldState, newState)).toBe(false);
    expect(newState.size).toBe(newCorpus.length);
  }, 120_000);
  afterAll(async () => root.cleanup());

  it(`comes back with the old or the new corpus, never a mix, after ${TRIALS} seeded kills`, async () => {
    const random = createRandom(SEED);
    const found = { old: 0, new: 0, empty: 0, completed: 0 };
    const failures: string[] = [];
    const corpusBefore = await corpusFingerprint(join(root.path, 'new-corpus'));
    for (let trial = 0; trial < TRIALS; trial += 1) {
      // Half the trials update an indexed corpus, half build the first index; half write the index at once,
      // half debounce it as in production.
      const fromScratch = trial % 2 === 1;
      const persistDelay = trial % 4 < 2 ? '0' : '2000';
      const killAfterMs = Math.floor(random() * fullRunMs[fromScratch ? 'scratch' : 'update'] * 1.1);
      const dataDir = join(root.path, `trial-${trial}`);
      if (!fromScratch) await cp(join(root.path, 'old-data'), dataDir, { recursive: true });
      const trialStarted = performance.now();
      const run = await runChild(join(root.path, 'new-corpus'), dataDir, persistDelay, killAfterMs);
      if (!run.killed) found.completed += 1;

      let app: App | undefined;
      try {
        app = await openApp(join(root.path, 'new-corpus'), dataDir);
        const state = served(app);
        const label = same(state, newState)
          ? 'new'
          : same(state, fromScratch ? new Map() : oldState)
            ? fromScratch
              ? 'empty'
              : 'old'
            : undefined;
        if (!label)
          failures.push(`trial ${trial}: ${state.size} documents served, neither the old nor the new corpus`);
        else found[label] += 1;
        // The index must agree with the documents: every hit is a served chunk of a served document.
        const hits = await app.store.vectorSearch(
          await app.store.embeddings.embedQuery('ministère défense'),
          10,
        );
        if (
          hits.length !== Math.min(10, app.store.chunkCount) ||
          hits.some((h) => !state.has(h.record.docId))
        )
          failures.push(`trial ${trial}: search returned chunks that are not served`);
        const after = await app.service.refresh();
        if (after.kind !== 'refreshed' || !same(served(app), newState))
          failures.push(`trial ${trial}: a refresh after the restart did not converge`);
      } catch (err) {
        failures.push(`trial ${trial}: restart failed: ${(err as Error).message}`);
      } finally {
        await app?.close();
        await rm(dataDir, { recursive: true, force: true });
      }
      if (process.env.CRASH_VERBOSE)
        console.info(
          `trial ${trial}: kill at ${killAfterMs} ms, ${Math.round(performance.now() - trialStarted)} ms`,
        );
    }
    const corpusAfter = await corpusFingerprint(join(root.path, 'new-corpus'));
    console.info(
      `crash consistency: ${TRIALS} trials (seed ${SEED}; refresh ${Math.round(fullRunMs.update)} ms, first ingest ${Math.round(fullRunMs.scratch)} ms), states found after restart: ${found.old} old, ${found.new} new, ${found.empty} empty (first ingest killed), ${found.completed} runs finished before the kill; ${failures.length} failures`,
    );
    expect(failures).toEqual([]);
    expect([...corpusAfter]).toEqual([...corpusBefore]);
    // The kills must land on both sides of the commit for the test to mean anything.
    expect(found.new).toBeGreaterThan(0);
    expect(found.old + found.empty).toBeGreaterThan(0);
  }, 600_000);
});
