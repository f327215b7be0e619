import { serveRequests } from '../workers.js';
import { readFileSyncForCorpus } from './load.js';

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
