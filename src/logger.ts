import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** Paths whose values never reach the logs, wherever they appear in a logged object. */
export const REDACTED_PATHS = [
  'token',
  'apiKey',
  'authorization',
  '*.token',
  '*.apiKey',
  '*.authorization',
  'config.DISCORD_TOKEN',
  'config.EMBEDDINGS_API_KEY',
  'config.LLM_API_KEY',
  'headers.authorization',
  '*.headers.authorization',
];

/** Builds the application logger. Logs go to stderr so that CLI output on stdout stays clean. */
export function createLogger(options: { level?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    { level: options.level ?? 'info', redact: { paths: REDACTED_PATHS, censor: '[redacted]' } },
    options.destination ?? pino.destination(2),
  );
}

/** A logger that drops everything: for tests and library callers that do not care. */
export function createSilentLogger(): Logger {
  return pino({ level: 'silent' });
}
