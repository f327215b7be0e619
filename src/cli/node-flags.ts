/**
 * The V8 flags the bot runs with: `npm start` passes them (package.json) and the bench gives them to the process it
 * measures, so its stalls are the bot's. Both are read when V8 starts, so they belong on the command line.
 *
 * - `--no-memory-reducer`: the reducer starts a compacting collection when the event loop goes quiet, which is when
 *   the graph workers index; moving pages of a 1.9 GB heap held the event loop 659 ms in one pause.
 * - `--v8-pool-size=1`: one V8 platform thread instead of Node's four. They run at normal priority the concurrent
 *   and parallel work of every isolate's collector, the niced workers' included, so on 2 cores up to five threads
 *   shared the cores with the event loop, which waited 30-117 ms for one during a 1M-chunk ingest.
 */
export const BOT_V8_FLAGS: readonly string[] = ['--no-memory-reducer', '--v8-pool-size=1'];

/** The name of a flag (`--v8-pool-size` of `--v8-pool-size=1`). */
const flagName = (flag: string): string => flag.split('=')[0] as string;

/**
 * `execArgv` for a measured child process: the parent's own flags, minus those the child sets, then the heap limit,
 * `--expose-gc` and {@link BOT_V8_FLAGS}.
 */
export function measuredChildExecArgv(parentExecArgv: readonly string[], maxOldSpaceMb: number): string[] {
  const set = [`--max-old-space-size=${maxOldSpaceMb}`, '--expose-gc', ...BOT_V8_FLAGS];
  const names = new Set(set.map(flagName));
  return [...parentExecArgv.filter((flag) => !names.has(flagName(flag))), ...set];
}
