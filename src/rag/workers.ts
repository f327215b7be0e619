import { Worker } from 'node:worker_threads';

/**
 * Starts a worker thread on a module next to the caller. From compiled JavaScript the module is loaded directly; from
 * TypeScript sources (development, tests, `tsx`) the worker first registers the tsx loader, resolved from this module
 * rather than the working directory, then imports the module.
 *
 * @param url - the worker module, e.g. `new URL('./hnsw-worker.ts', import.meta.url)`; a `.ts` URL is switched to
 *   `.js` when the caller itself runs compiled.
 */
export function startModuleWorker(url: URL, workerData: unknown): Worker {
  if (!url.pathname.endsWith('.ts')) return new Worker(url, { workerData });
  const tsx = import.meta.resolve('tsx/esm/api');
  return new Worker(
    `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); });`,
    { eval: true, workerData },
  );
}

/** The URL of a sibling module, with the extension the running code uses (`.ts` under tsx, `.js` compiled). */
export function siblingModule(name: string, base: string): URL {
  return new URL(`./${name}${base.endsWith('.ts') ? '.ts' : '.js'}`, base);
}
