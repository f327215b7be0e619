import { availableParallelism } from 'node:os';
import { isIP } from 'node:net';
import { z } from 'zod';
import { AppError, ErrorCode } from './errors.js';

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const commaList = z
  .string()
  .optional()
  .transform((v) =>
    (v ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
const idList = commaList.pipe(
  z.array(z.string().regex(/^\d{5,25}$/, 'expected comma-separated Discord ids (digits)')),
);
const isNetwork = (entry: string): boolean => {
  const [address = '', prefix, extra] = entry.split('/');
  const version = isIP(address);
  if (version === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (version === 4 ? 32 : 128);
};
const networkList = commaList.pipe(
  z.array(
    z.string().refine(isNetwork, 'expected comma-separated IP addresses or CIDR ranges, e.g. 10.0.0.0/8,::1'),
  ),
);
const optionalString = z
  .string()
  .trim()
  .optional()
  .transform((v) => (v === '' ? undefined : v));

/**
 * Every configuration key of Verbatim. `.env.example` lists the same keys; a test keeps the two in step.
 */
export const configSchema = z.object({
  CORPUS_DIR: z.string().trim().min(1).default('corpus'),
  DATA_DIR: z.string().trim().min(1).default('data'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  EMBEDDINGS_PROVIDER: z.enum(['local', 'openai']).default('local'),
  LOCAL_EMBEDDINGS_DIMENSIONS: positiveInt(512),
  EMBEDDINGS_BASE_URL: z
    .url()
    .optional()
    .or(z.literal('').transform(() => undefined)),
  EMBEDDINGS_API_KEY: optionalString,
  EMBEDDINGS_MODEL: optionalString,
  EMBEDDINGS_DIMENSIONS: z.coerce.number().int().positive().optional(),
  EMBEDDINGS_BATCH_SIZE: positiveInt(64),
  EMBEDDINGS_MAX_RETRIES: z.coerce.number().int().min(0).max(10).default(4),
  EMBEDDINGS_TIMEOUT_MS: positiveInt(30_000),

  HNSW_M: positiveInt(24),
  HNSW_EF_CONSTRUCTION: positiveInt(64),
  HNSW_EF_SEARCH: z.coerce.number().int().min(50).default(400),
  HNSW_SIMD: z.enum(['auto', 'off']).default('auto'),
  HNSW_INT8: z.enum(['auto', 'off']).default('auto'),
  HNSW_SCAN_LIMIT: z.coerce.number().int().min(0).default(100_000),
  HNSW_GRAPH_DIMENSIONS: z.union([z.literal('auto'), z.coerce.number().int().min(0)]).default('auto'),
  HNSW_RERANK: z.coerce.number().int().min(10).max(2000).default(50),
  INDEX_PERSIST_DELAY_MS: z.coerce.number().int().min(0).max(600_000).default(2000),
  INDEX_THREADS: z.coerce.number().int().min(0).max(64).default(availableParallelism()),
  INDEX_PARALLEL_MIN_CHUNKS: z.coerce.number().int().min(0).default(20_000),

  MAX_QUESTION_LENGTH: z.coerce.number().int().min(10).max(4000).default(500),
  RETRIEVAL_TOP_K: z.coerce.number().int().min(1).max(50).default(6),
  MAX_QUOTES: z.coerce.number().int().min(1).max(3).default(3),
  RELEVANCE_FLOOR: z.coerce.number().min(0).max(1).default(0.25),

  LLM_BASE_URL: z
    .url()
    .optional()
    .or(z.literal('').transform(() => undefined)),
  LLM_MODEL: optionalString,
  LLM_API_KEY: optionalString,
  LLM_TIMEOUT_MS: positiveInt(30_000),
  LLM_TEMPERATURE: z.coerce.number().min(0).max(2).default(0.1),
  LLM_MAX_RETRIES: z.coerce.number().int().min(0).max(6).default(2),
  STREAM_EDIT_INTERVAL_MS: z.coerce.number().int().min(0).max(60_000).default(1500),

  DISCORD_TOKEN: optionalString,
  DISCORD_API_BASE: z.url({ protocol: /^https?$/ }).default('https://discord.com/api'),
  MODERATOR_ROLE_IDS: idList,
  BOT_OWNER_IDS: idList,
  ASK_COOLDOWN_SECONDS: z.coerce.number().min(0).max(3600).default(5),
  MAX_CONCURRENT_ANSWERS: z.coerce.number().int().min(1).max(64).default(4),
  MAX_QUEUED_ANSWERS: z.coerce.number().int().min(0).max(10_000).default(200),
  CONVERSATION_TURNS: z.coerce.number().int().min(0).max(10).default(3),
  CONVERSATION_TTL_MINUTES: z.coerce.number().min(1).max(1440).default(15),
  MAX_UPLOAD_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(25 * 1024 * 1024)
    .default(2 * 1024 * 1024),
  FETCH_TIMEOUT_MS: positiveInt(15_000),
  /**
   * IP addresses or CIDR ranges that `/corpus add url:` may fetch from although they are loopback, private (RFC 1918,
   * 100.64/10, fc00::/7) or link-local (169.254/16, fe80::/10), e.g. `192.168.1.20,10.0.0.0/8` for a wiki on the
   * LAN. Empty (the default): public addresses only, so that a moderator cannot make the bot read the cloud
   * metadata service or an internal admin page. Checked on the addresses actually connected to, at every redirect.
   */
  URL_FETCH_ALLOWED_NETWORKS: networkList,
});

/** Rules between keys, checked on the raw input so they are reported together with the per-key errors. */
function crossKeyIssues(input: Record<string, string | undefined>): string[] {
  const issues: string[] = [];
  if (input.EMBEDDINGS_PROVIDER === 'openai') {
    for (const key of ['EMBEDDINGS_BASE_URL', 'EMBEDDINGS_MODEL'])
      if (!input[key]?.trim()) issues.push(`  ${key}: required when EMBEDDINGS_PROVIDER=openai`);
  }
  if (input.LLM_MODEL?.trim() && !input.LLM_BASE_URL?.trim())
    issues.push('  LLM_BASE_URL: required when LLM_MODEL is set');
  return issues;
}

/** The parsed, validated and frozen configuration. */
export type Config = Readonly<z.infer<typeof configSchema>>;

/** The keys the schema knows, in declaration order. */
export const CONFIG_KEYS = Object.keys(configSchema.shape) as (keyof z.infer<typeof configSchema>)[];

/**
 * Parses the environment once. Every invalid key is reported in one error, so a misconfigured deployment is
 * fixed in one go rather than one restart per key.
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const input: Record<string, string | undefined> = {};
  for (const key of CONFIG_KEYS) input[key] = env[key] === '' ? undefined : env[key];
  const parsed = configSchema.safeParse(input);
  const lines = [
    ...(parsed.success
      ? []
      : parsed.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`)),
    ...crossKeyIssues(input),
  ];
  if (!parsed.success || lines.length > 0) {
    throw new AppError(ErrorCode.CONFIG_INVALID, `Invalid configuration:\n${lines.join('\n')}`);
  }
  return Object.freeze(parsed.data);
}
