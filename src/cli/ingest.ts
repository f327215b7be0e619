import type { QaService, SyncProgress } from '../rag/service.js';
import type { CliOutput } from './io.js';
import { renderFailures } from './render.js';

/** Receives progress of an ingest; the script draws a progress bar with it. */
export interface ProgressSink {
  update(progress: SyncProgress): void;
  stop(): void;
}

/** `npm run ingest`: updates the index from the corpus directory and prints a summary. */
export async function runIngest(service: QaService, progress: ProgressSink, io: CliOutput): Promise<number> {
  const result = await service.refresh((p) => progress.update(p)).finally(() => progress.stop());
  if (result.failures.length > 0) io.err(renderFailures(result.failures));
  if (result.kind === 'corpus_empty') {
    io.err(result.message);
    return 1;
  }
  io.out(
    [
      `documents: ${result.added.length} added, ${result.changed.length} changed, ${result.removed.length} removed, ${result.unchanged.length} unchanged`,
      `chunks: ${result.chunks} in the index, ${result.chunksEmbedded} embedded now`,
      `time: ${(result.durationMs / 1000).toFixed(2)} s${result.rebuilt ? ' (full rebuild: embedder or chunker changed)' : ''}`,
      ...(result.kept.length > 0 ? [`kept previous version of: ${result.kept.join(', ')}`] : []),
    ].join('\n'),
  );
  return 0;
}
