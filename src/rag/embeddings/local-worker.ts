import { parentPort, workerData } from 'node:worker_threads';
import { LocalHashEmbeddings } from './local.js';

/** Worker side of {@link ParallelLocalEmbeddings}: embeds slices of texts into one transferable Float32Array. */
const embedder = new LocalHashEmbeddings({ dimensions: (workerData as { dimensions: number }).dimensions });
parentPort?.on('message', (message: { id: number; texts: string[] }) => {
  const out = new Float32Array(message.texts.length * embedder.dimensions);
  message.texts.forEach((text, i) => embedder.embedInto(text, out, i * embedder.dimensions));
  parentPort?.postMessage({ id: message.id, vectors: out }, [out.buffer]);
});
