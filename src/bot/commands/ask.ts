import { MessageFlags, SlashCommandBuilder } from 'discord.js';
import { detectLanguage } from '../../rag/text/language.js';
import { prepareAnswer, refusalMessage } from '../answering.js';
import type { Command } from '../context.js';
import { languageOfLocale, t } from '../i18n.js';
import type { PartialAnswer } from '../../rag/service.js';
import { NO_MENTIONS, renderPartial } from '../render.js';
import { createEditThrottle } from '../throttle.js';

/** `/ask question:<text> private:<bool>`: a quoted answer, public or ephemeral. */
export const ask = {
  data: new SlashCommandBuilder()
    .setName('ask')
    .setDescription('Ask a question about the story; the answer quotes the articles word for word')
    .setDescriptionLocalizations({
      fr: 'Posez une question sur l’affaire ; la réponse cite les articles mot pour mot',
    })
    .addStringOption((o) =>
      o
        .setName('question')
        .setDescription('Your question, in French or English')
        .setDescriptionLocalizations({ fr: 'Votre question, en français ou en anglais' })
        .setRequired(true),
    )
    .addBooleanOption((o) =>
      o
        .setName('private')
        .setDescription('Only you see the answer')
        .setDescriptionLocalizations({ fr: 'Vous seul voyez la réponse' }),
    )
    .toJSON(),
  async execute(interaction, ctx, log) {
    const question = interaction.options.getString('question', true);
    const ephemeral = interaction.options.getBoolean('private') ?? false;
    const language = detectLanguage(question) ?? languageOfLocale(interaction.locale);
    const admission = ctx.limiter.tryAcquire(interaction.user.id);
    if (admission.kind !== 'admitted') {
      await interaction.reply({
        content: refusalMessage(admission, language),
        flags: MessageFlags.Ephemeral,
        allowedMentions: NO_MENTIONS,
      });
      return;
    }
    try {
      // Deferred before any slow work: Discord drops an interaction not acknowledged within 3 seconds.
      await interaction.deferReply(ephemeral ? { flags: MessageFlags.Ephemeral } : {});
      if (admission.position > 0)
        await interaction.editReply({
          content: t(language).queued(admission.position),
          allowedMentions: NO_MENTIONS,
        });
      await admission.ready;
      const stream = createEditThrottle(
        (partial: PartialAnswer) =>
          interaction.editReply({ content: '', ...renderPartial(partial), allowedMentions: NO_MENTIONS }),
        ctx.settings.streamEditIntervalMs,
        (err) => log.warn({ err }, 'streaming edit failed'),
      );
      const { pages } = await prepareAnswer(ctx, question, {
        userId: interaction.user.id,
        guildId: interaction.guildId,
        language: languageOfLocale(interaction.locale),
        onProgress: (partial) => stream.push(partial),
      }).finally(() => stream.finish());
      const [first, ...rest] = pages;
      if (first)
        await interaction.editReply({
          content: first.content ?? '',
          embeds: first.embeds,
          components: first.components,
          allowedMentions: NO_MENTIONS,
        });
      for (const page of rest) {
        await interaction.followUp({
          ...page,
          allowedMentions: NO_MENTIONS,
          ...(ephemeral ? { flags: MessageFlags.Ephemeral } : {}),
        });
      }
    } finally {
      admission.release();
    }
  },
} satisfies Command;
