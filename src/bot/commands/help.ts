import { escapeMarkdown, MessageFlags, SlashCommandBuilder } from 'discord.js';
import type { Command } from '../context.js';
import { languageOfLocale } from '../i18n.js';
import { NO_MENTIONS } from '../render.js';

/** `/help`: what the bot knows and how to ask it. */
export const help = {
  data: new SlashCommandBuilder()
    .setName('help')
    .setDescription('What Verbatim knows and how to ask it')
    .setDescriptionLocalizations({ fr: 'Ce que sait Verbatim et comment l’interroger' })
    .toJSON(),
  async execute(interaction, ctx) {
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    const fr = languageOfLocale(interaction.locale) === 'fr';
    const total = ctx.service.documentCount;
    const list = total
      ? ctx.service
          .listDocuments({ offset: 0, limit: 20 })
          .map((d) => `• ${escapeMarkdown(d.title.slice(0, 150))}${d.date ? ` (${d.date})` : ''}`)
          .join('\n') + (total > 20 ? `\n… +${total - 20}` : '')
      : fr
        ? 'Aucun document pour l’instant.'
        : 'No document yet.';
    const usage = fr
      ? [
          '**Poser une question** : `/ask question:…` (ajoutez `private:True` pour une réponse visible de vous seul), mentionnez le bot dans un salon, ou écrivez-lui en message privé (il suit la conversation : « et Amazon ? »).',
          'Chaque réponse cite les articles **mot pour mot**. **Sources** montre le passage autour de chaque citation ; 👍 / 👎 nous aident à nous améliorer.',
          'Modérateurs : `/corpus refresh | add | remove | list`.',
        ]
      : [
          '**Ask**: `/ask question:…` (add `private:True` for an answer only you see), mention the bot in a channel, or send it a direct message (it follows the conversation: "and Amazon?").',
          'Every answer quotes the articles **word for word**. **Sources** shows the passage around each quote; 👍 / 👎 help us improve.',
          'Moderators: `/corpus refresh | add | remove | list`.',
        ];
    await interaction.editReply({
      allowedMentions: NO_MENTIONS,
      embeds: [
        {
          title: fr
            ? 'Verbatim : les articles, cités mot pour mot'
            : 'Verbatim: the articles, quoted word for word',
          description: usage.join('\n\n').slice(0, 4096),
          fields: [{ name: `${fr ? 'Documents' : 'Documents'} (${total})`, value: list.slice(0, 1024) }],
          footer: { text: `corpus ${ctx.service.corpusVersion}` },
        },
      ],
    });
  },
} satisfies Command;
