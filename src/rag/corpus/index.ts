export { loadCorpus, MAX_DOCUMENT_BYTES, type IndexedLookup, type ParseCache } from './load.js';
export { CorpusReaderPool, type CorpusReader, type ReadOptions } from './reader-pool.js';
export {
  isSupportedFile,
  parseDocument,
  SUPPORTED_EXTENSIONS,
  type ParseInput,
  type ParseResult,
  type SupportedExtension,
} from './parse.js';
export { computeContentHash, deriveDocumentId } from './ids.js';
export {
  downloadLimited,
  formatBytes,
  sniffUpload,
  type DownloadResult,
  type SniffResult,
  type UploadKind,
} from './upload.js';
