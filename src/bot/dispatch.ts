import { randomBytes } from 'node:crypto';
import {
  MessageFlags,
  type ButtonInteraction,
  type Interaction,
  type RepliableInteraction,
} from 'discord.js';
import type { Logger } from '../logger.js';
import type { BotContext, Command } from './context.js';
import { languageOfLocale, t } from './i18n.js';
import { isModerator } from './permissions.js';
import { NO_MENTIONS, renderPassages } from './render.js';

/** A short id to quote when reporting a problem; the same id is in the logs. */
export function newErrorId(): string {
  return randomBytes(4).toString('hex');
}

/** Tells the user something went wrong, whatever state the interaction is in. Never throws. */
async function reportError(interaction: RepliableInteraction, errorId: string, log: Logger): Promise<void> {
  const content = t(languageOfLocale(interaction.locale)).error(errorId);
  try {
    if (interaction.deferred && !interaction.replied)
      await interaction.editReply({ content, embeds: [], components: [], allowedMentions: NO_MENTIONS });
    else if (interaction.replied)
      await interaction.followUp({ content, flags: MessageFlags.Ephemeral, allowedMentions: NO_MENTIONS });
    else await interaction.reply({ content, flags: MessageFlags.Ephemeral, allowedMentions: NO_MENTIONS });
  } catch (err) {
    log.warn({ err, errorId }, 'could not report the error to the user');
  }
}

async function handleButton(interaction: ButtonInteraction, ctx: BotContext): Promise<void> {
  const [kind, ...rest] = interaction.customId.split(':');
  const answerId = rest.at(-1) ?? '';
  const record = ctx.store.getAnswer(answerId);
  const language = record?.language ?? languageOfLocale(interaction.locale);
  if (!record) {
    await interaction.reply({
      content: t(language).answerExpired,
      flags: MessageFlags.Ephemeral,
      allowedMentions: NO_MENTIONS,
    });
    return;
  }
  if (kind === 'sources') {
    const passages = renderPassages(record, (id) => ctx.service.getDocument(id));
    await interaction.reply({ ...passages, flags: MessageFlags.Ephemeral, allowedMentions: NO_MENTIONS });
  } else if (kind === 'feedback') {
    const helpful = rest[0] === 'up';
    ctx.store.saveFeedback(record, interaction.user.id, helpful);
    await interaction.reply({
      content: t(language).thanks(helpful),
      flags: MessageFlags.Ephemeral,
      allowedMentions: NO_MENTIONS,
    });
  }
}

/**
 * The one entry point for interactions, with a staged error boundary: look the command up, check moderator rights
 * when the command requires them, run it with timing, and on failure show a short message with an error id (also
 * logged with the error) so the process stays up and the user knows.
 */
export function createInteractionHandler(commands: readonly Command[], ctx: BotContext) {
  const byName = new Map(commands.map((c) => [c.data.name, c]));
  return async (interaction: Interaction): Promise<void> => {
    const started = performance.now();
    const log = ctx.logger.child({
      interactionId: interaction.id,
      command:
        interaction.isCommand() || interaction.isAutocomplete()
          ? interaction.commandName
          : interaction.isButton()
            ? interaction.customId.split(':')[0]
            : undefined,
      guildId: interaction.guildId,
      userId: interaction.user.id,
    });
    try {
      if (interaction.isAutocomplete()) {
        const command = byName.get(interaction.commandName);
        if (command?.autocomplete && (!command.moderatorOnly || isModerator(interaction, ctx.policy)))
          await command.autocomplete(interaction, ctx);
        else await interaction.respond([]);
        return;
      }
      if (interaction.isButton()) {
        await handleButton(interaction, ctx);
        log.info({ durationMs: Math.round(performance.now() - started) }, 'button handled');
        return;
      }
      if (!interaction.isChatInputCommand()) return;
      const command = byName.get(interaction.commandName);
      const text = t(languageOfLocale(interaction.locale));
      if (!command) {
        log.warn('unknown command');
        return;
      }
      if (command.moderatorOnly && !isModerator(interaction, ctx.policy)) {
        log.info({ denied: true }, 'moderator command refused');
        await interaction.reply({
          content: interaction.inGuild() ? text.notModerator : text.notInDm,
          flags: MessageFlags.Ephemeral,
          allowedMentions: NO_MENTIONS,
        });
        return;
      }
      await command.execute(interaction, ctx, log);
      log.info({ durationMs: Math.round(performance.now() - started) }, 'command handled');
    } catch (err) {
      const errorId = newErrorId();
      log.error({ err, errorId, durationMs: Math.round(performance.now() - started) }, 'interaction failed');
      if (interaction.isRepliable()) await reportError(interaction, errorId, log);
    }
  };
}
