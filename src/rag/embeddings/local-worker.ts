import { workerData } from 'node:worker_threads';
import { serveRequests } from '../workers.js';
import { LocalHashEmbeddings } from './local.js';

/** Worker side of {@link ParallelLocalEmbeddings}: embeds slices of texts into one transferable Float32Array. */
const embedder = new LocalHashEmbeddings({ dimensions: (workerData as { dimensions: number }).dimensions });
serveRequests((texts: string[]) => {
  const out = new Float32Array(texts.length * embedder.dimensions);
  texts.forEach((text, i) => embedder.embedInto(text, out, i * embedder.dimensions));
  return out;
});
