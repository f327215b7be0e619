import { stat } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parentPort, Worker } from 'node:worker_threads';

/** Nice value of worker threads: see {@link startModuleWorker}. */
export const WORKER_NICENESS = 19;

/**
 * Lowers the scheduling priority of the thread that runs it (Linux, where a thread has its own nice value; best
 * effort elsewhere), as the first statement of a worker, before any module is loaded: starting a worker compiles its
 * modules for about 0.7 s, which at normal priority took a core from the event loop.
 */
const lowerPriorityFirst = (niceness: number) => `if (process.platform === 'linux') {
  try {
    const tid = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isSafeInteger(tid) && tid > 0) require('node:os').setPriority(tid, ${niceness});
  } catch {}
}
`;

/**
 * Starts a worker thread on a module next to the caller, at a lower scheduling priority (nice
 * {@link WORKER_NICENESS}): workers build indexes, embed and read for seconds or minutes, and on a machine with as
 * many busy workers as cores the event loop thread and V8's garbage-collection helpers then get a core as soon as they
 * need one, instead of a scavenge waiting behind a graph build (pauses of 100-300 ms during a 1M-chunk ingest). From
 * compiled JavaScript the module is imported directly; from TypeScript sources (development, tests, `tsx`) the
 * worker first registers the tsx loader, resolved from this module rather than the working directory.
 */
export function startModuleWorker(url: URL, workerData: unknown, niceness = WORKER_NICENESS): Worker {
  const load = url.pathname.endsWith('.ts')
    ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); });`
    : `import(${JSON.stringify(url.href)});`;
  // libuv's thread pool (the file, crypto and DNS work of every thread) starts on first use, from the thread that
  // uses it, and its threads inherit that thread's nice value: started from this thread, it keeps this one's.
  if (url.protocol === 'file:') stat(fileURLToPath(url), () => undefined);
  return new Worker(`${niceness > 0 ? lowerPriorityFirst(niceness) : ''}${load}`, { eval: true, workerData });
}

/** The URL of a sibling module, with the extension the running code uses (`.ts` under tsx, `.js` compiled). */
export function siblingModule(name: string, base: string): URL {
  return new URL(`./${name}${base.endsWith('.ts') ? '.ts' : '.js'}`, base);
}

type Reply =
  { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string; name: string };

/** An error thrown in a worker, with the name of its class there. */
export class WorkerError extends Error {
  constructor(
    message: string,
    readonly remoteName: string,
  ) {
    super(message);
    this.name = 'WorkerError';
  }
}

/**
 * Calls into a worker thread that runs {@link serveRequests}: each call is a message answered by one reply. The
 * worker keeps the process alive only while calls are pending, so an idle pool never delays exit; if the worker
 * dies, pending and later calls reject.
 */
export class WorkerClient {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private failure: Error | undefined;

  constructor(url: URL, workerData: unknown, niceness = WORKER_NICENESS) {
    this.worker = startModuleWorker(url, workerData, niceness);
    this.worker.on('message', (reply: Reply) => {
      const waiter = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (this.pending.size === 0) this.worker.unref();
      if (!waiter) return;
      if (reply.ok) waiter.resolve(reply.result);
      else waiter.reject(new WorkerError(reply.error, reply.name));
    });
    const fail = (err: Error) => {
      this.failure ??= err;
      for (const { reject } of this.pending.values()) reject(err);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`worker exited (code ${code})`)));
    // After the listeners: adding a 'message' listener refs the worker again.
    this.worker.unref();
  }

  call<T>(request: unknown, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, request }, transfer);
    });
  }

  async close(): Promise<void> {
    this.failure ??= new Error('worker closed');
    await this.worker.terminate();
  }
}

/**
 * Worker side of {@link WorkerClient}: answers each request with `handle`'s result (typed arrays are transferred, not
 * copied) or its error.
 */
export function serveRequests(handle: (request: never) => unknown): void {
  parentPort?.on('message', (message: { id: number; request: never }) => {
    Promise.resolve()
      .then(() => handle(message.request))
      .then(
        (result) => {
          const transfer = ArrayBuffer.isView(result) ? [result.buffer as ArrayBuffer] : [];
          parentPort?.postMessage({ id: message.id, ok: true, result }, transfer);
        },
        (err: unknown) =>
          parentPort?.postMessage({
            id: message.id,
            ok: false,
            error: err instanceof Error ? err.message : String(err),
            name: err instanceof Error ? err.name : 'Error',
          }),
      );
  });
}
