import { AppError } from '../errors.js';
import { loadConfig, type Config } from '../config.js';
import { createLogger } from '../logger.js';
import { createApp, type App } from '../main.js';
import type { CliOutput } from './io.js';

/**
 * Runs a CLI command on the assembled app: parses the configuration (every bad key reported at once), opens the
 * store, runs `command`, closes the store. Returns the exit code; expected failures print one clear line.
 */
export async function withApp(
  env: Record<string, string | undefined>,
  io: CliOutput,
  command: (app: App, config: Config) => Promise<number>,
): Promise<number> {
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (err) {
    io.err(err instanceof Error ? err.message : String(err));
    return 78;
  }
  const logger = createLogger({
    level: env.LOG_LEVEL ? config.LOG_LEVEL : 'warn',
    secrets: [config.DISCORD_TOKEN, config.LLM_API_KEY, config.EMBEDDINGS_API_KEY],
  });
  let app: App | undefined;
  try {
    app = await createApp(config, logger);
    return await command(app, config);
  } catch (err) {
    if (err instanceof AppError) {
      io.err(`${err.code}: ${err.message}`);
      return 1;
    }
    throw err;
  } finally {
    await app?.close();
  }
}
