import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registerCommands } from '../../src/bot/register.js';
import { startDiscordDouble, type DiscordDouble } from '../helpers/discord-double.js';
import { temporaryDirectory } from '../helpers/documents.js';
import { BOT_V8_FLAGS } from '../../src/cli/node-flags.js';
import { npmScriptNodeArgs } from '../helpers/npm-script.js';

/** Runs `npm start`'s command (the compiled script, with its flags) in a child process; resolves with its exit code and output. */
function start(env: Record<string, string>, onStarted?: (child: ReturnType<typeof spawn>) => void) {
  const child = spawn(process.execPath, npmScriptNodeArgs('start'), {
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  onStarted?.(child);
  return once(child, 'exit').then(([code]) => ({ code: code as number | null, stdout, stderr }));
}

describe('npm start', () => {
  let double: DiscordDouble;
  let data: { path: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    double = await startDiscordDouble();
    data = await temporaryDirectory();
  });
  afterEach(async () => {
    await double.close();
    await data.cleanup();
  });

  it('runs Node.js with the bot’s V8 flags, which the bench’s measured process gets too', () => {
    expect(BOT_V8_FLAGS).toEqual(expect.arrayContaining(['--no-memory-reducer', '--v8-pool-size=1']));
    expect(npmScriptNodeArgs('start')).toEqual(expect.arrayContaining([...BOT_V8_FLAGS]));
  });

  it('ends with one clear line and a non-zero exit when DISCORD_TOKEN is missing', async () => {
    const result = await start({ DISCORD_TOKEN: '', DATA_DIR: data.path });
    expect(result.code).not.toBe(0);
    expect(result.stderr.trim().split('\n')).toEqual([
      'DISCORD_TOKEN is not set: put your bot token in .env (see .env.example).',
    ]);
  });

  it('ends with one clear line and a non-zero exit when Discord rejects the token', async () => {
    const result = await start({
      DISCORD_TOKEN: 'wrong-token',
      DISCORD_API_BASE: double.apiBase,
      DATA_DIR: data.path,
      LOG_LEVEL: 'silent',
    });
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe('Discord rejected DISCORD_TOKEN: check the bot token in .env.');
  });

  it('builds the index before logging in, and exits 0 after logging out on SIGTERM', async () => {
    const result = await start(
      {
        DISCORD_TOKEN: double.token,
        DISCORD_API_BASE: double.apiBase,
        DATA_DIR: data.path,
        CORPUS_DIR: 'corpus',
      },
      (child) => {
        void double.waitForReady().then(() => child.kill('SIGTERM'));
      },
    );
    expect(result.code).toBe(0);
    const logs = result.stderr
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { msg: string });
    const messages = logs.map((l) => l.msg);
    expect(messages.indexOf('corpus refreshed')).toBeGreaterThanOrEqual(0);
    expect(messages.indexOf('corpus refreshed')).toBeLessThan(messages.indexOf('bot logged in'));
    expect(messages.slice(-2)).toEqual(['shutting down: finishing questions in flight', 'bot stopped']);
    expect(result.stderr).not.toContain(double.token);
  });
});

describe('npm run register', () => {
  it('registers the commands for one guild, with /corpus limited to Manage Server', async () => {
    const double = await startDiscordDouble();
    try {
      const result = await registerCommands({
        token: double.token,
        apiBase: double.apiBase,
        guildId: double.guildId,
      });
      expect(result).toEqual({ scope: `guild ${double.guildId}`, names: ['ask', 'help', 'corpus'] });
      const put = await double.waitForRequest((r) => r.method === 'PUT');
      expect(put.path).toBe(`/applications/${double.applicationId}/guilds/${double.guildId}/commands`);
      const corpus = (put.body as { name: string; default_member_permissions?: string }[]).find(
        (c) => c.name === 'corpus',
      );
      expect(corpus?.default_member_permissions).toBe('32');
      const global = await registerCommands({ token: double.token, apiBase: double.apiBase });
      expect(global.scope).toBe('global');
      expect(
        double.requests.some(
          (r) => r.method === 'PUT' && r.path === `/applications/${double.applicationId}/commands`,
        ),
      ).toBe(true);
    } finally {
      await double.close();
    }
  });
});
