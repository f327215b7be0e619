import { MessageFlags, SlashCommandBuilder, type ChatInputCommandInteraction } from 'discord.js';
import { detectLanguage } from '../../rag/text/language.js';
import { addressed, deliver, prepareAnswer, refusalMessage, type DeliveryRoute } from '../answering.js';
import type { Command } from '../context.js';
import { languageOfLocale, t } from '../i18n.js';
import type { PartialAnswer } from '../../rag/service.js';
import { NO_MENTIONS, renderPartial, type RenderedMessage } from '../render.js';
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
    let shown = false;
    try {
      // Deferred before any slow work: Discord drops an interaction not acknowledged within 3 seconds. If the
      // deferral fails even after discord.js's retries, the answer is still prepared and sent by another route.
      await interaction
        .deferReply(ephemeral ? { flags: MessageFlags.Ephemeral } : {})
        .catch((err: unknown) => log.warn({ err }, 'could not defer the reply'));
      if (admission.position > 0 && interaction.deferred)
        await interaction
          .editReply({ content: t(language).queued(admission.position), allowedMentions: NO_MENTIONS })
          .then(
            () => (shown = true),
            (err: unknown) => log.warn({ err }, 'could not show the queue position'),
          );
      await admission.ready;
      const stream = createEditThrottle(
        async (partial: PartialAnswer) => {
          if (!interaction.deferred) return;
          await interaction.editReply({
            content: '',
            ...renderPartial(partial),
            allowedMentions: NO_MENTIONS,
          });
          shown = true;
        },
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
        await deliver(
          firstPageRoutes(
            interaction,
            {
              content: first.content ?? '',
              embeds: first.embeds,
              components: first.components,
              allowedMentions: NO_MENTIONS,
            },
            { ephemeral, shown },
          ),
          log,
        );
      for (const page of rest) {
        const payload = { ...page, allowedMentions: NO_MENTIONS };
        await deliver(
          [
            {
              name: 'followUp',
              send: () =>
                interaction.followUp({ ...payload, ...(ephemeral ? { flags: MessageFlags.Ephemeral } : {}) }),
            },
            ...channelRoute(interaction, payload, ephemeral),
          ],
          log,
        );
      }
    } finally {
      admission.release();
    }
  },
} satisfies Command;

/** A rendered page ready to send: every route takes it as is. */
type AnswerPayload = RenderedMessage & { allowedMentions: typeof NO_MENTIONS };

/**
 * Where the first page of an answer can go, best first: the deferred reply; else a follow-up, which Discord takes
 * as the deferred reply while it still shows "thinking…"; else, for a public answer, a message in the channel that
 * addresses the asker, after which the deferred reply is deleted so that no "thinking…" stays behind. A follow-up or
 * channel message also deletes a reply that was showing the queue position or a partial answer.
 */
function firstPageRoutes(
  interaction: ChatInputCommandInteraction,
  payload: AnswerPayload,
  state: { ephemeral: boolean; shown: boolean },
): DeliveryRoute[] {
  const flags = state.ephemeral ? { flags: MessageFlags.Ephemeral as const } : {};
  const dropStale = () => interaction.deleteReply().catch(() => undefined);
  if (!interaction.deferred && !interaction.replied)
    return [
      { name: 'reply', send: () => interaction.reply({ ...payload, ...flags }) },
      ...channelRoute(interaction, payload, state.ephemeral),
    ];
  return [
    { name: 'editReply', send: () => interaction.editReply(payload) },
    {
      name: 'followUp',
      send: async () => {
        await interaction.followUp({ ...payload, ...flags });
        if (state.shown) await dropStale();
      },
    },
    ...channelRoute(interaction, payload, state.ephemeral, dropStale),
  ];
}

/** A public message in the interaction's channel; never for a private answer. */
function channelRoute(
  interaction: ChatInputCommandInteraction,
  payload: AnswerPayload,
  ephemeral: boolean,
  after?: () => Promise<unknown>,
): DeliveryRoute[] {
  const channel = interaction.channel;
  if (ephemeral || !channel?.isSendable()) return [];
  return [
    {
      name: 'channel',
      send: async () => {
        await channel.send(interaction.inGuild() ? addressed(payload, interaction.user.id) : payload);
        await after?.();
      },
    },
  ];
}
