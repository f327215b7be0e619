import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/logger.js';

/**
 * A logger whose records are kept in memory, so tests can assert what was logged: `records` parsed, `lines` as
 * written (what an operator would see, for searching the raw text). It is the application's own logger
 * (`createLogger`, with its redaction), writing to memory instead of stderr.
 */
export function createRecordingLogger(options: { level?: string } = {}): {
  logger: Logger;
  records: Record<string, unknown>[];
  lines: string[];
} {
  const records: Record<string, unknown>[] = [];
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line.trim() !== '') {
          lines.push(line);
          records.push(JSON.parse(line) as Record<string, unknown>);
        }
      callback();
    },
  });
  return { logger: createLogger({ level: options.level ?? 'debug', destination }), records, lines };
}
