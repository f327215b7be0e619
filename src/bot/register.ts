import { REST, Routes, type RESTGetAPIOAuth2CurrentApplicationResult } from 'discord.js';
import { commands } from './commands/index.js';

/**
 * Registers the slash commands: globally (may take up to an hour to show everywhere) or for one guild (at once).
 * Replaces the whole set, so a removed command disappears.
 */
export async function registerCommands(options: {
  token: string;
  apiBase: string;
  guildId?: string;
}): Promise<{ scope: string; names: string[] }> {
  const rest = new REST({ api: options.apiBase }).setToken(options.token);
  const application = (await rest.get(
    Routes.currentApplication(),
  )) as RESTGetAPIOAuth2CurrentApplicationResult;
  const route = options.guildId
    ? Routes.applicationGuildCommands(application.id, options.guildId)
    : Routes.applicationCommands(application.id);
  const body = commands.map((c) => c.data);
  const registered = (await rest.put(route, { body })) as { name: string }[];
  return {
    scope: options.guildId ? `guild ${options.guildId}` : 'global',
    names: registered.map((c) => c.name),
  };
}
