import { setImmediate as nextTurn } from 'node:timers/promises';

/** Memory of a process after full garbage collections, in bytes. */
export interface MemorySample {
  heapUsed: number;
  rss: number;
  external: number;
  arrayBuffers: number;
}

/**
 * Heap and RSS once everything collectable is collected. Needs `--expose-gc`: vitest's workers do not have it (Node
 * accepts it in NODE_OPTIONS, but the default test run sets none), so the soaks run their measured part in a child
 * process started with `node --expose-gc --import tsx`. Several collections, with turns of the event loop between
 * them, let finalizers and weak references settle before reading.
 */
export async function settledMemory(): Promise<MemorySample> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('settledMemory() needs node --expose-gc');
  for (let i = 0; i < 4; i += 1) {
    await nextTurn();
    gc();
  }
  const { heapUsed, rss, external, arrayBuffers } = process.memoryUsage();
  return { heapUsed, rss, external, arrayBuffers };
}

/** `1.034` for 3.4% more than the baseline. */
export function growth(after: MemorySample, baseline: MemorySample): number {
  return after.heapUsed / baseline.heapUsed;
}

export const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** Node options of the soak children: gc exposed, TypeScript through tsx (as tests/e2e/crash.test.ts does). */
export const CHILD_EXEC_ARGV = ['--expose-gc', '--import', 'tsx'];
