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

const CENSOR = '[redacted]';

/**
 * The interaction token in `/webhooks/{application}/{token}` and `/interactions/{id}/{token}` URLs: whoever holds
 * it can post as the bot in that channel for 15 minutes, and discord.js puts the URL in every `DiscordAPIError` and
 * `HTTPError` it throws.
 */
const INTERACTION_TOKEN_IN_URL = /(\/(?:webhooks|interactions)\/\d+\/)[^/?#\s"'`]+/g;
/** A credential after its scheme, as in an `Authorization` header copied into a message. */
const CREDENTIAL_AFTER_SCHEME = /\b(Bot|Bearer)\s+[\w.~+/=-]{16,}/g;

/** Removes interaction tokens and `Bot`/`Bearer` credentials from a text. */
export function scrubSecrets(text: string): string {
  return text
    .replace(INTERACTION_TOKEN_IN_URL, `$1${CENSOR}`)
    .replace(CREDENTIAL_AFTER_SCHEME, `$1 ${CENSOR}`);
}

/** A copy of a serialised error with every string scrubbed (the error itself is left alone). */
function scrubDeep(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrubSecrets(value);
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (Array.isArray(value)) return value.map((v) => scrubDeep(v, depth + 1));
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrubDeep(v, depth + 1)]));
}

/** pino's error serialiser, then scrubbed: errors are logged as `{ err }` with their message, stack and URL. */
const serializers = { err: (err: Error) => scrubDeep(pino.stdSerializers.err(err)) };

/**
 * Builds the application logger. Logs go to stderr so that CLI output on stdout stays clean. Known fields holding
 * secrets are redacted, errors are scrubbed of interaction tokens and credentials, and every value in `secrets`
 * (the Discord token, the API keys) is replaced wherever it appears in a line, as a last line of defence.
 */
export function createLogger(
  options: {
    level?: string;
    destination?: DestinationStream;
    secrets?: readonly (string | undefined)[];
  } = {},
): Logger {
  const secrets = (options.secrets ?? []).filter((s): s is string => typeof s === 'string' && s.length >= 8);
  return pino(
    {
      level: options.level ?? 'info',
      redact: { paths: REDACTED_PATHS, censor: CENSOR },
      serializers,
      ...(secrets.length > 0
        ? {
            hooks: {
              streamWrite: (line: string) => secrets.reduce((out, s) => out.split(s).join(CENSOR), line),
            },
          }
        : {}),
    },
    options.destination ?? pino.destination(2),
  );
}

/** A logger that drops everything: for tests and library callers that do not care. */
export function createSilentLogger(): Logger {
  return pino({ level: 'silent' });
}
