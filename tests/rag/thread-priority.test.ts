import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorpusReaderPool } from '../../src/rag/corpus/index.js';
import { ParallelLocalEmbeddings } from '../../src/rag/embeddings/parallel.js';
import { DatabaseWorker } from '../../src/rag/store/background-database.js';
import { CorpusDatabase } from '../../src/rag/store/database.js';
import { ShardedIndex } from '../../src/rag/store/hnsw-shards.js';
import { loadHnswlib } from '../../src/rag/store/hnswlib.js';
import { temporaryDirectory } from '../helpers/documents.js';
import { WORKER_NICENESS, WorkerClient } from '../../src/rag/workers.js';

/**
 * A field of each thread's stat line in /proc, counted from the state (field 3) as 0: the nice value (field 19) is
 * 16, the scheduling policy (field 41) 38.
 */
function threadStatFields(index: number): number[] {
  return readdirSync('/proc/self/task').flatMap((tid) => {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      return [Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[index])];
    } catch {
      return []; // the thread ended while being listed
    }
  });
}

const threadNiceness = () => threadStatFields(16);
const threadPolicies = () => threadStatFields(38);

/** Linux's SCHED_IDLE, as /proc shows a thread's policy. */
const SCHED_IDLE = 5;

describe.runIf(process.platform === 'linux')('worker priority', () => {
  it('runs the graph-building workers behind the event loop thread', async () => {
    const before = threadNiceness().filter((n) => n === WORKER_NICENESS).length;
    const index = ShardedIndex.create(
      { dimensions: 8, m: 8, efConstruction: 16, efSearch: 16 },
      { threads: 2 },
    );
    try {
      // A round trip to every worker: each has run its start-up code by then.
      await index.reset(100);
      // At least the two workers' threads (under tsx, each worker's module-loader thread inherits its nice value).
      expect(threadNiceness().filter((n) => n === WORKER_NICENESS).length - before).toBeGreaterThanOrEqual(2);
      expect(Number(readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1]?.split(' ')[16])).toBe(0);
    } finally {
      await index.close();
    }
  });

  it.runIf(loadHnswlib().int8?.idleScheduling !== undefined)(
    'puts the graph-building workers under SCHED_IDLE, and only them',
    async () => {
      const before = threadPolicies().filter((p) => p === SCHED_IDLE).length;
      const embeddings = new ParallelLocalEmbeddings({ dimensions: 16, threads: 2 });
      const index = ShardedIndex.create(
        { dimensions: 8, m: 8, efConstruction: 16, efSearch: 16 },
        { threads: 2 },
      );
      try {
        await index.reset(100);
        await embeddings.embedDocumentsToFloat32(Array.from({ length: 300 }, (_, i) => `texte ${i}`));
        expect(threadPolicies().filter((p) => p === SCHED_IDLE).length - before).toBe(2);
        expect(Number(readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1]?.split(' ')[38])).toBe(0);
      } finally {
        await Promise.all([index.close(), embeddings.close()]);
      }
    },
  );

  it('runs the embedding and corpus reader workers behind the event loop thread too', async () => {
    const before = threadNiceness().filter((n) => n === WORKER_NICENESS).length;
    const embeddings = new ParallelLocalEmbeddings({ dimensions: 16, threads: 2 });
    const reader = new CorpusReaderPool(2, 1);
    try {
      // Enough texts for the embedder to use its workers, and enough (missing) files for each reader thread to get a
      // batch: a round trip to every worker.
      await embeddings.embedDocumentsToFloat32(Array.from({ length: 300 }, (_, i) => `texte ${i}`));
      const results = await reader.read(
        import.meta.dirname,
        Array.from({ length: 300 }, (_, i) => `missing-${i}.md`),
      );
      expect(results.every((r) => 'reason' in r && r.reason.includes('ENOENT'))).toBe(true);
      expect(threadNiceness().filter((n) => n === WORKER_NICENESS).length - before).toBeGreaterThanOrEqual(4);
    } finally {
      await Promise.all([embeddings.close(), reader.close()]);
    }
  });

  it("lowers a worker's priority before its first module loads", async () => {
    const worker = new WorkerClient(
      new URL('../fixtures/workers/priority-worker.ts', import.meta.url),
      undefined,
    );
    try {
      expect(WORKER_NICENESS).toBeGreaterThan(0);
      expect(await worker.call<number>({})).toBe(WORKER_NICENESS);
    } finally {
      await worker.close();
    }
  });

  it('keeps the database worker at normal priority', async () => {
    const dir = await temporaryDirectory();
    const before = threadNiceness().filter((n) => n > 0).length;
    const db = new CorpusDatabase(join(dir.path, 'corpus.sqlite'));
    const worker = new DatabaseWorker(db.path);
    try {
      const path = join(dir.path, 'file');
      await writeFile(path, 'abc');
      expect((await worker.checksum(path)).bytes).toBe(3);
      expect(threadNiceness().filter((n) => n > 0).length).toBe(before);
    } finally {
      await worker.close();
      db.close();
      await dir.cleanup();
    }
  });
});
