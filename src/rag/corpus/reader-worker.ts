import { lowerThreadPriority, serveRequests } from '../workers.js';
import { readFileSyncForCorpus } from './load.js';

// As the graph workers: a scavenge on the event loop waits for V8's helper threads, which must not queue behind two
// busy readers.
lowerThreadPriority();

/** Worker side of {@link CorpusReaderPool}: reads and parses a batch of files, synchronously. */
serveRequests(
  (request: {
    dir: string;
    files: { file: string; cached?: { size: number; mtimeMs: number }; indexedHash?: string }[];
  }) =>
    request.files.map(({ file, cached, indexedHash }) =>
      readFileSyncForCorpus(request.dir, file, cached, indexedHash),
    ),
);
