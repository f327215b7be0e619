/** Stable error codes. Logs and user-facing messages carry them so an incident can be traced. */
export const ErrorCode = {
  CONFIG_INVALID: 'CONFIG_INVALID',
  CORPUS_EMPTY: 'CORPUS_EMPTY',
  DOCUMENT_UNREADABLE: 'DOCUMENT_UNREADABLE',
  INDEX_MISMATCH: 'INDEX_MISMATCH',
  INDEX_CORRUPT: 'INDEX_CORRUPT',
  EMBEDDINGS_AUTH: 'EMBEDDINGS_AUTH',
  EMBEDDINGS_DIMENSIONS: 'EMBEDDINGS_DIMENSIONS',
  EMBEDDINGS_FAILED: 'EMBEDDINGS_FAILED',
  LLM_FAILED: 'LLM_FAILED',
  DISCORD_TOKEN_MISSING: 'DISCORD_TOKEN_MISSING',
  DISCORD_TOKEN_INVALID: 'DISCORD_TOKEN_INVALID',
  DISCORD_LOGIN_FAILED: 'DISCORD_LOGIN_FAILED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** An error with a stable machine-readable code. */
export class AppError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AppError';
    this.code = code;
  }
}

/** An error whose message is safe and useful to show to an end user as is. */
export class UserFacingError extends AppError {
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'UserFacingError';
  }
}
