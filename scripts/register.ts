import 'dotenv/config';
import { parseArgs } from 'node:util';
import { registerCommands } from '../src/bot/register.js';
import { loadConfig } from '../src/config.js';

const { values } = parseArgs({ options: { guild: { type: 'string' } } });
try {
  const config = loadConfig(process.env);
  if (!config.DISCORD_TOKEN)
    throw new Error('DISCORD_TOKEN is not set: put your bot token in .env (see .env.example).');
  const result = await registerCommands({
    token: config.DISCORD_TOKEN,
    apiBase: config.DISCORD_API_BASE,
    ...(values.guild ? { guildId: values.guild } : {}),
  });
  console.log(`registered ${result.names.map((n) => `/${n}`).join(', ')} (${result.scope})`);
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
}
