import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import hnswlib from 'hnswlib-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  generateCorpus,
  generateDocuments,
  generateQuestions,
  parseSize,
  writeCorpusFiles,
} from '../../src/cli/bench-corpus.js';
import {
  latencyStats,
  medianOfRuns,
  parseSchedStat,
  parseStealMs,
  readThreadSchedStat,
  recallAtK,
  withStallMonitor,
  type Neighbors,
} from '../../src/cli/bench-stats.js';
import { chunkCorpus } from '../../src/cli/bench-task.js';
import { runBench, type BenchReport } from '../../src/cli/bench.js';
import type { CliOutput } from '../../src/cli/io.js';
import { BOT_V8_FLAGS, measuredChildExecArgv } from '../../src/cli/node-flags.js';
import { createSilentLogger } from '../../src/logger.js';
import { loadCorpus } from '../../src/rag/corpus/index.js';
import { LocalHashEmbeddings } from '../../src/rag/embeddings/local.js';
import { temporaryDirectory } from '../helpers/documents.js';
import { npmScriptNodeArgs } from '../helpers/npm-script.js';

const { BruteforceSearch, HierarchicalNSW } = hnswlib;

function captureOutput(): CliOutput & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (t) => stdout.push(t), err: (t) => stderr.push(t) };
}

describe('bench corpus generator', () => {
  it('gives the same documents for the same seed and different ones for another seed', () => {
    const a = generateCorpus({ chunks: 120, seed: 7 });
    expect(generateCorpus({ chunks: 120, seed: 7 })).toEqual(a);
    expect(generateCorpus({ chunks: 120, seed: 8 })[0]?.text).not.toBe(a[0]?.text);
  });

  it('makes exactly the requested number of chunks with the store chunker, in French with its typography', () => {
    const documents = generateCorpus({ chunks: 500 });
    expect(chunkCorpus(documents).texts).toHaveLength(500);
    const text = documents.map((d) => d.text).join('\n');
    for (const mark of ['’', '«', '»', '–', 'é']) expect(text).toContain(mark);
    expect(documents.every((d) => d.language === 'fr' && /^[a-f0-9]{64}$/.test(d.contentHash))).toBe(true);
    expect(new Set(documents.map((d) => d.id)).size).toBe(documents.length);
  });

  it('writes .md files that the corpus loader reads back with the same text and content hash', async () => {
    const dir = await temporaryDirectory();
    try {
      const documents = generateDocuments(12, { seed: 3, idPrefix: 'roundtrip' });
      await writeCorpusFiles(dir.path, documents);
      const loaded = await loadCorpus(dir.path, { logger: createSilentLogger() });
      expect(loaded.failures).toEqual([]);
      expect(
        loaded.documents.map(({ id, title, text, contentHash, date, url }) => ({
          id,
          title,
          text,
          contentHash,
          date,
          url,
        })),
      ).toEqual(
        documents.map(({ id, title, text, contentHash, date, url }) => ({
          id,
          title,
          text,
          contentHash,
          date,
          url,
        })),
      );
    } finally {
      await dir.cleanup();
    }
  });

  it('parses 10k, 100k, 1m and plain numbers, and rejects anything else', () => {
    expect([parseSize('10k'), parseSize('100K'), parseSize('1m'), parseSize('300')]).toEqual([
      10_000, 100_000, 1_000_000, 300,
    ]);
    expect(() => parseSize('big')).toThrow(/invalid size/);
    expect(generateQuestions(3)).toEqual(generateQuestions(3));
  });
});

describe('bench statistics', () => {
  it("reads each CPU's steal time from /proc/stat, in milliseconds", () => {
    const procStat = [
      'cpu  100 0 50 900 3 0 1 12 0 0',
      'cpu0 50 0 25 450 1 0 1 5 0 0',
      'cpu1 50 0 25 450 2 0 0 7 0 0',
      'intr 12345',
    ].join('\n');
    expect(parseStealMs(procStat)).toEqual([50, 70]);
    expect(parseStealMs('')).toEqual([]);
  });

  it("reads the event loop thread's CPU time and wait for a CPU from its schedstat, in milliseconds", () => {
    expect(parseSchedStat('2500000000 40000000 1234\n')).toEqual({ ranMs: 2500, waitedMs: 40 });
    expect(parseSchedStat('')).toBeUndefined();
    expect(parseSchedStat('not a schedstat')).toBeUndefined();
    const own = readThreadSchedStat();
    if (process.platform === 'linux') expect(own?.ranMs).toBeGreaterThan(0);
  });

  it('tells a stall during which the hypervisor took a CPU from one it did not, and describes both', async () => {
    let steal = [100, 200];
    let sched = { ranMs: 1000, waitedMs: 500 };
    const busy = (ms: number) => {
      const until = performance.now() + ms;
      while (performance.now() < until);
    };
    const report = await withStallMonitor(
      async (probe) => {
        const wait = () => new Promise((resolve) => setTimeout(resolve, 30));
        probe.phase = 'stolen';
        await wait();
        busy(160);
        steal = [140, 210];
        sched = { ranMs: 1070, waitedMs: 560 };
        await wait();
        probe.phase = 'quiet';
        await wait();
        busy(80);
        sched = { ranMs: 1105, waitedMs: 565 };
        await wait();
        probe.phase = 'after';
        return 'done';
      },
      'start',
      () => steal,
      () => sched,
    );
    expect(report.result).toBe('done');
    expect(report.maxStallMs).toBeGreaterThanOrEqual(140);
    expect(report.stallPhase).toBe('stolen');
    expect(report.stallStealMs).toBe(40);
    expect(report.stallWaitedMs).toBe(60);
    expect(report.stallRanMs).toBe(70);
    expect(report.maxQuietStallMs).toBeGreaterThanOrEqual(65);
    expect(report.maxQuietStallMs).toBeLessThan(report.maxStallMs);
    expect(report.quietStallPhase).toBe('quiet');
    expect(report.quietStallWaitedMs).toBe(5);
    expect(report.quietStallRanMs).toBe(35);
  });

  it('summarises repeated runs leaf by leaf with the median', () => {
    const runs = [
      { a: 1, b: { c: 10 }, name: 'x' },
      { a: 5, b: { c: 30 }, name: 'y' },
      { a: 3, b: { c: 20 }, name: 'z' },
    ];
    expect(medianOfRuns(runs)).toEqual({ a: 3, b: { c: 20 }, name: 'x' });
    const stats = latencyStats([5, 1, 3, 2, 4]);
    expect(stats).toMatchObject({ p50: 3, p99: 5, max: 5, samples: 5 });
  });

  describe('recall@10 against exact search', () => {
    const dims = 64;
    let vectors: number[][];
    let queries: number[][];
    let ids: string[];
    let exact: Neighbors[];

    const search = (
      index: { searchKnn(q: number[], k: number): { neighbors: number[]; distances: number[] } },
      labelToId: (label: number) => string,
    ) =>
      queries.map((q) => {
        const result = index.searchKnn(q, 10);
        return { ids: result.neighbors.map(labelToId), distances: result.distances };
      });

    beforeAll(async () => {
      const embeddings = new LocalHashEmbeddings({ dimensions: dims });
      const chunks = chunkCorpus(generateCorpus({ chunks: 400, seed: 11 }));
      ids = chunks.ids;
      vectors = await embeddings.embedDocuments(chunks.texts);
      queries = await embeddings.embedDocuments(generateQuestions(40, 12));
      const brute = new BruteforceSearch('cosine', dims);
      brute.initIndex(vectors.length);
      vectors.forEach((v, i) => brute.addPoint(v, i));
      exact = search(brute, (label) => ids[label] as string);
    });

    it('is exactly 1 for exact search against itself', () => {
      expect(recallAtK(exact, exact, 10)).toBe(1);
    });

    it('is lower for a deliberately broken index (M 2, ef 1, labels shuffled)', () => {
      const broken = new HierarchicalNSW('cosine', dims);
      broken.initIndex({ maxElements: vectors.length, m: 2, efConstruction: 2, randomSeed: 1 });
      broken.setEf(1);
      vectors.forEach((v, i) => broken.addPoint(v, i));
      const shuffled = (label: number) => ids[(label * 7919 + 13) % ids.length] as string;
      const recall = recallAtK(search(broken, shuffled), exact, 10);
      expect(recall).toBeGreaterThanOrEqual(0);
      expect(recall).toBeLessThan(0.5);
    });

    it('is lower for a search that returns random chunks with their true distances', () => {
      const random = exact.map((_, q) => {
        const labels = Array.from({ length: 10 }, (_, i) => (q * 37 + i * 101) % vectors.length);
        const query = queries[q] as number[];
        const distances = labels.map(
          (l) => 1 - (vectors[l] as number[]).reduce((sum, x, d) => sum + x * (query[d] as number), 0),
        );
        return { ids: labels.map((l) => ids[l] as string), distances };
      });
      expect(recallAtK(random, exact, 10)).toBeLessThan(0.5);
    });

    it('counts a tie with the tenth exact neighbour (a duplicate chunk) as a hit, and a repeated id once', () => {
      const truth: Neighbors[] = [{ ids: ['a', 'b'], distances: [0.1, 0.2] }];
      expect(recallAtK([{ ids: ['a', 'c'], distances: [0.1, 0.2] }], truth, 2)).toBe(1);
      expect(recallAtK([{ ids: ['a', 'a'], distances: [0.1, 0.1] }], truth, 2)).toBe(0.5);
      expect(recallAtK([{ ids: ['c', 'd'], distances: [0.3, 0.4] }], truth, 2)).toBe(0);
    });
  });
});

describe('npm run bench on a tiny corpus', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let report: BenchReport;
  let jsonPath: string;
  let io: ReturnType<typeof captureOutput>;

  beforeAll(async () => {
    dir = await temporaryDirectory();
    io = captureOutput();
    ({ report, jsonPath } = await runBench(
      {
        size: '300',
        repeat: 2,
        queries: 20,
        latencyQueries: 30,
        incrementalDocuments: 5,
        jsonPath: join(dir.path, 'out', 'bench.json'),
        isolate: false,
      },
      io,
    ));
  }, 120_000);
  afterAll(() => dir.cleanup());

  it('indexes the same 300 chunks in every system', () => {
    expect(report.corpus.chunks).toBe(300);
    expect(report.verbatim.median.ingest.chunks).toBe(300);
    expect(report.langchain?.median.ingest.chunks).toBe(300);
    expect(report.exact.median.build.chunks).toBe(300);
    expect(report.verbatim.runs).toHaveLength(2);
  });

  it('reports every ingest stage, the disk size, the load time and the peak RSS', () => {
    const { ingest, disk, loadMs } = report.verbatim.median;
    for (const stage of ['chunkingMs', 'embeddingMs', 'storingMs', 'indexingMs', 'persistingMs'])
      expect(ingest.stages[stage]).toBeGreaterThanOrEqual(0);
    expect(ingest.loadingMs).toBeGreaterThan(0);
    expect(ingest.totalMs).toBeGreaterThanOrEqual(ingest.loadingMs);
    expect(ingest.chunksPerSecond).toBeGreaterThan(0);
    expect(ingest.maxStallMs).toBeGreaterThanOrEqual(0);
    expect(ingest.stallStealMs).toBeGreaterThanOrEqual(0);
    expect(ingest.maxQuietStallMs).toBeLessThanOrEqual(ingest.maxStallMs);
    expect(Object.keys(disk.files)).toEqual(
      expect.arrayContaining(['index-0.hnsw', 'corpus.sqlite', 'manifest.json']),
    );
    expect(disk.bytes).toBeGreaterThan(0);
    expect(loadMs).toBeGreaterThan(0);
    expect(report.verbatim.peakRssBytes).toBeGreaterThan(0);
    const lc = report.langchain?.median;
    expect(lc?.ingest.embeddingMs).toBeGreaterThan(0);
    expect(lc?.disk.files).toHaveProperty('hnswlib.index');
    expect(report.embedder.chunksPerSecond).toBeGreaterThan(0);
    expect(report.embedder.shipped.chunksPerSecond).toBeGreaterThan(0);
  });

  it('computes recall@10 in [0, 1], exactly 1 for exact search', () => {
    expect(report.exact.recallAt10).toBe(1);
    for (const recall of [report.verbatim.recallAt10, report.langchain?.recallAt10 ?? Number.NaN]) {
      expect(recall).toBeGreaterThanOrEqual(0);
      expect(recall).toBeLessThanOrEqual(1);
    }
    expect(report.verbatim.recallRuns).toHaveLength(2);
  });

  it('times every kind of query with p50 <= p99 over the requested number of queries', () => {
    const all = {
      ...report.verbatim.median.latency,
      lcVector: report.langchain?.median.latency.vector,
      exactVector: report.exact.median.latency.vector,
    };
    expect(Object.keys(all)).toEqual([
      'embedQuery',
      'vector',
      'lexical',
      'hybrid',
      'ask',
      'lcVector',
      'exactVector',
    ]);
    for (const [name, stats] of Object.entries(all)) {
      expect(stats?.samples, name).toBe(30);
      expect(stats?.p50, name).toBeGreaterThan(0);
      expect(stats?.p50, name).toBeLessThanOrEqual(stats?.p99 ?? 0);
    }
    expect(report.verbatim.median.askAnswered).toBeGreaterThanOrEqual(0);
    expect(report.verbatim.median.askAnswered).toBeLessThanOrEqual(1);
  });

  it('adds and removes one document and many documents on the built index', () => {
    const { addOne, removeOne, addMany, removeMany, refreshUnchanged, refreshAddOne } =
      report.verbatim.median.incremental;
    expect(addOne.chunks).toBeGreaterThan(0);
    expect(removeOne.chunks).toBe(addOne.chunks);
    expect(addMany.documents).toBe(5);
    expect(removeMany.chunks).toBe(addMany.chunks);
    expect(refreshUnchanged.chunks).toBe(0);
    expect(refreshAddOne.chunks).toBeGreaterThan(0);
    expect(report.langchain?.median.incremental.addOne.chunks).toBe(addOne.chunks);
    expect(report.langchain?.median.incremental.addMany.chunks).toBe(addMany.chunks);
  });

  it('prints the side-by-side table and writes the same report as JSON', async () => {
    const printed = io.stdout.join('\n');
    expect(printed).toMatch(/metric\s+unit\s+Verbatim\s+LangChain\s+exact\s+V vs LC\s+V vs exact/);
    for (const metric of [
      'ingest, end to end',
      'recall@10 vs exact',
      'hybrid retrieve k=6 p99',
      'add 5 documents',
      'longest event-loop stall, ingest',
    ]) {
      expect(printed).toContain(metric);
      expect(report.table.some((r) => r.metric.trim() === metric)).toBe(true);
    }
    // Which hnswlib build ran: runs on a CPU with AVX-512 and on one without are not comparable.
    expect(['portable', 'x86-64-v3', 'x86-64-v4']).toContain(report.verbatim.params.hnswlib);
    expect(printed).toContain(`hnswlib build ${report.verbatim.params.hnswlib}`);
    const ingest = report.verbatim.median.ingest;
    const stalls = printed.split('\n').find((line) => line.startsWith("Verbatim's longest stalls"));
    if (ingest.maxStallMs > 0)
      expect(stalls).toMatch(/: ingest [\d.,]+ ms \(.*?; [\d.,]+ ms running\); addOne /);
    expect(JSON.parse(await readFile(jsonPath, 'utf8'))).toEqual(JSON.parse(JSON.stringify(report)));
  });
});

describe("the bench's measured process", () => {
  it("runs with the bot's V8 flags, its own heap limit and gc exposed, over the parent's values", () => {
    const parent = ['--import', 'tsx', '--max-old-space-size=512', '--v8-pool-size=4', '--no-memory-reducer'];
    expect(measuredChildExecArgv(parent, 8192)).toEqual([
      '--import',
      'tsx',
      '--max-old-space-size=8192',
      '--expose-gc',
      ...BOT_V8_FLAGS,
    ]);
  });
});

describe('npm run bench', () => {
  it('runs each system in its own process and writes a parseable JSON report', async () => {
    const dir = await temporaryDirectory();
    try {
      const json = join(dir.path, 'bench.json');
      const args = [
        ...npmScriptNodeArgs('bench'),
        '--size',
        '200',
        '--repeat',
        '1',
        '--queries',
        '10',
        '--latency-queries',
        '10',
        '--incremental-docs',
        '3',
        '--json',
        json,
      ];
      const { stdout } = await promisify(execFile)(process.execPath, args, { timeout: 120_000 });
      expect(stdout).toContain('recall@10 vs exact');
      const report = JSON.parse(await readFile(json, 'utf8')) as BenchReport;
      expect(report.options).toMatchObject({ chunks: 200, isolated: true, langchain: true });
      expect(report.exact.recallAt10).toBe(1);
      expect(report.machine.nodeFlags).toEqual(expect.arrayContaining([...BOT_V8_FLAGS]));
      expect(report.verbatim.peakRssBytes).toBeGreaterThan(0);
      expect(report.langchain?.peakRssBytes).toBeGreaterThan(0);
    } finally {
      await dir.cleanup();
    }
  }, 120_000);
});
