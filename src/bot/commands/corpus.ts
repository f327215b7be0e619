import {
  escapeMarkdown,
  InteractionContextType,
  MessageFlags,
  PermissionFlagsBits,
  SlashCommandBuilder,
  type ChatInputCommandInteraction,
} from 'discord.js';
import type { Logger } from '../../logger.js';
import { downloadLimited, formatBytes } from '../../rag/corpus/index.js';
import type { AddResult, DocumentSummary } from '../../rag/service.js';
import type { BotContext, Command } from '../context.js';
import { newErrorId } from '../dispatch.js';
import { languageOfLocale } from '../i18n.js';
import { NO_MENTIONS } from '../render.js';

type Say = (fr: string, en: string) => string;

function describe(doc: DocumentSummary): string {
  return `« ${escapeMarkdown(doc.title.slice(0, 150))} » (\`${doc.id}\`, ${formatBytes(doc.size)}, ${doc.chunks} passages)`;
}

async function reply(interaction: ChatInputCommandInteraction, content: string): Promise<void> {
  await interaction.editReply({ content: content.slice(0, 2000), allowedMentions: NO_MENTIONS });
}

async function refresh(
  interaction: ChatInputCommandInteraction,
  ctx: BotContext,
  say: Say,
  log: Logger,
): Promise<void> {
  const result = await ctx.service.refresh();
  const failures = result.failures.map((f) => `• \`${escapeMarkdown(f.file)}\`: ${f.reason}`).join('\n');
  if (result.kind === 'corpus_empty') {
    await reply(
      interaction,
      `${say('Rien à indexer : le dossier du corpus est vide. L’index actuel reste en service.', 'Nothing to index: the corpus folder is empty. The current index keeps serving.')}${failures ? `\n${failures}` : ''}`,
    );
    return;
  }
  const summary = say(
    `Corpus mis à jour en ${(result.durationMs / 1000).toFixed(1)} s : ${result.added.length} ajouté(s), ${result.changed.length} modifié(s), ${result.removed.length} retiré(s), ${result.unchanged.length} inchangé(s).`,
    `Corpus refreshed in ${(result.durationMs / 1000).toFixed(1)} s: ${result.added.length} added, ${result.changed.length} changed, ${result.removed.length} removed, ${result.unchanged.length} unchanged.`,
  );
  const skipped = failures ? `\n${say('Fichiers ignorés :', 'Files skipped:')}\n${failures}` : '';
  ctx.store.audit({
    action: 'refresh',
    userId: interaction.user.id,
    userName: interaction.user.username,
    guildId: interaction.guildId,
    detail: summary,
  });
  log.info(
    { audit: 'refresh', added: result.added, changed: result.changed, removed: result.removed },
    'corpus refreshed from Discord',
  );
  await reply(interaction, `${summary}${skipped}`);
}

async function add(
  interaction: ChatInputCommandInteraction,
  ctx: BotContext,
  say: Say,
  log: Logger,
): Promise<void> {
  const file = interaction.options.getAttachment('file');
  const url = interaction.options.getString('url');
  if ((file === null) === (url === null)) {
    await reply(
      interaction,
      say(
        'Donnez soit un fichier (`file`), soit une adresse (`url`).',
        'Give either a file (`file`) or a web address (`url`).',
      ),
    );
    return;
  }
  let result: AddResult;
  if (file) {
    if (file.size > ctx.settings.maxUploadBytes) {
      await reply(
        interaction,
        say(
          `Fichier refusé : plus grand que la limite de ${formatBytes(ctx.settings.maxUploadBytes)}.`,
          `File refused: larger than the ${formatBytes(ctx.settings.maxUploadBytes)} limit.`,
        ),
      );
      return;
    }
    const download = await downloadLimited(file.url, {
      fetch: ctx.fetch,
      maxBytes: ctx.settings.maxUploadBytes,
      timeoutMs: ctx.settings.fetchTimeoutMs,
    });
    result = download.ok
      ? await ctx.service.addDocument({ fileName: file.name, content: download.bytes })
      : { kind: 'invalid', reason: download.reason };
  } else {
    result = await ctx.service.addFromUrl(url ?? '');
  }
  const what = file ? `\`${escapeMarkdown(file.name)}\`` : `<${url}>`;
  if (result.kind === 'invalid') {
    await reply(
      interaction,
      say(
        `${what} n’a pas été ajouté : ${result.reason}. Le corpus n’a pas changé.`,
        `${what} was not added: ${result.reason}. The corpus is unchanged.`,
      ),
    );
    return;
  }
  ctx.store.audit({
    action: 'add',
    userId: interaction.user.id,
    userName: interaction.user.username,
    guildId: interaction.guildId,
    detail: `${result.document.id} from ${file ? file.name : url}`,
  });
  log.info(
    { audit: 'add', docId: result.document.id, replaced: result.replaced, source: file ? file.name : url },
    'document added from Discord',
  );
  await reply(
    interaction,
    result.replaced
      ? say(
          `Document remplacé : ${describe(result.document)}.`,
          `Document replaced: ${describe(result.document)}.`,
        )
      : say(
          `Document ajouté : ${describe(result.document)}. Il répond dès maintenant.`,
          `Document added: ${describe(result.document)}. It answers from now on.`,
        ),
  );
}

async function remove(
  interaction: ChatInputCommandInteraction,
  ctx: BotContext,
  say: Say,
  log: Logger,
): Promise<void> {
  const id = interaction.options.getString('document', true);
  const result = await ctx.service.removeDocument(id);
  if (result.kind === 'not_found') {
    await reply(
      interaction,
      say(
        `Aucun document \`${escapeMarkdown(id)}\` dans le corpus.`,
        `No document \`${escapeMarkdown(id)}\` in the corpus.`,
      ),
    );
    return;
  }
  ctx.store.audit({
    action: 'remove',
    userId: interaction.user.id,
    userName: interaction.user.username,
    guildId: interaction.guildId,
    detail: `${id} moved to ${result.movedTo}`,
  });
  log.info({ audit: 'remove', docId: id, movedTo: result.movedTo }, 'document removed from Discord');
  await reply(
    interaction,
    say(
      `Document retiré : ${describe(result.document)}. Le fichier est mis de côté dans \`.removed/\` et peut être restauré.`,
      `Document removed: ${describe(result.document)}. The file is set aside in \`.removed/\` and can be restored.`,
    ),
  );
}

/** Documents per page of `/corpus list`: a page is at most a few messages, however large the corpus. */
export const LIST_PAGE_SIZE = 20;

async function list(interaction: ChatInputCommandInteraction, ctx: BotContext, say: Say): Promise<void> {
  const total = ctx.service.documentCount;
  if (total === 0) {
    await reply(interaction, say('Le corpus est vide.', 'The corpus is empty.'));
    return;
  }
  const pageCount = Math.ceil(total / LIST_PAGE_SIZE);
  const page = interaction.options.getInteger('page') ?? 1;
  if (page > pageCount) {
    await reply(
      interaction,
      say(
        `Il n’y a que ${pageCount} page(s) de ${LIST_PAGE_SIZE} documents.`,
        `There are only ${pageCount} page(s) of ${LIST_PAGE_SIZE} documents.`,
      ),
    );
    return;
  }
  const docs = ctx.service.listDocuments({ offset: (page - 1) * LIST_PAGE_SIZE, limit: LIST_PAGE_SIZE });
  const lines = docs.map(
    (d) => `• ${describe(d)}${d.date ? ` · ${d.date}` : ''}${d.url ? ` · <${d.url}>` : ''}`,
  );
  if (page < pageCount)
    lines.push(say(`Suite : \`/corpus list page:${page + 1}\``, `Next: \`/corpus list page:${page + 1}\``));
  const messages: string[] = [];
  let message = say(
    `**${total} document(s)**, corpus ${ctx.service.corpusVersion}, page ${page}/${pageCount}`,
    `**${total} document(s)**, corpus ${ctx.service.corpusVersion}, page ${page}/${pageCount}`,
  );
  for (const line of lines) {
    if (message.length + 1 + line.length > 1900) {
      messages.push(message);
      message = line;
    } else message = `${message}\n${line}`;
  }
  messages.push(message);
  const [first, ...rest] = messages;
  await reply(interaction, first ?? '');
  for (const m of rest)
    await interaction.followUp({ content: m, flags: MessageFlags.Ephemeral, allowedMentions: NO_MENTIONS });
}

/** `/corpus refresh | add | remove | list`: moderators manage the articles without restarting the bot. */
export const corpus = {
  data: new SlashCommandBuilder()
    .setName('corpus')
    .setDescription('Manage the articles (moderators)')
    .setDescriptionLocalizations({ fr: 'Gérer les articles (modérateurs)' })
    .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
    .setContexts(InteractionContextType.Guild, InteractionContextType.BotDM)
    .addSubcommand((s) =>
      s
        .setName('refresh')
        .setDescription('Re-read the corpus folder and update the index')
        .setDescriptionLocalizations({ fr: 'Relire le dossier du corpus et mettre l’index à jour' }),
    )
    .addSubcommand((s) =>
      s
        .setName('add')
        .setDescription('Add an article: a .md, .txt or .html file, or a web page')
        .setDescriptionLocalizations({ fr: 'Ajouter un article : fichier .md, .txt ou .html, ou page web' })
        .addAttachmentOption((o) =>
          o
            .setName('file')
            .setDescription('The article file')
            .setDescriptionLocalizations({ fr: 'Le fichier de l’article' }),
        )
        .addStringOption((o) =>
          o
            .setName('url')
            .setDescription('The address of a web page')
            .setDescriptionLocalizations({ fr: 'L’adresse d’une page web' }),
        ),
    )
    .addSubcommand((s) =>
      s
        .setName('remove')
        .setDescription('Remove an article (its file is set aside, not deleted)')
        .setDescriptionLocalizations({ fr: 'Retirer un article (son fichier est mis de côté, pas supprimé)' })
        .addStringOption((o) =>
          o
            .setName('document')
            .setDescription('Document id or title')
            .setDescriptionLocalizations({ fr: 'Identifiant ou titre du document' })
            .setRequired(true)
            .setAutocomplete(true),
        ),
    )
    .addSubcommand((s) =>
      s
        .setName('list')
        .setDescription('List the articles')
        .setDescriptionLocalizations({ fr: 'Lister les articles' })
        .addIntegerOption((o) =>
          o
            .setName('page')
            .setDescription(`Page of ${LIST_PAGE_SIZE} articles, sorted by id (default 1)`)
            .setDescriptionLocalizations({
              fr: `Page de ${LIST_PAGE_SIZE} articles, triés par identifiant (1 par défaut)`,
            })
            .setMinValue(1),
        ),
    )
    .toJSON(),
  moderatorOnly: true,
  async execute(interaction, ctx, log) {
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    const fr = languageOfLocale(interaction.locale) === 'fr';
    const say: Say = (f, e) => (fr ? f : e);
    const subcommand = interaction.options.getSubcommand();
    try {
      switch (subcommand) {
        case 'refresh':
          return await refresh(interaction, ctx, say, log);
        case 'add':
          return await add(interaction, ctx, say, log);
        case 'remove':
          return await remove(interaction, ctx, say, log);
        case 'list':
          return await list(interaction, ctx, say);
      }
    } catch (err) {
      // Moderators are told what failed, not just an id: the change was rolled back and they may retry.
      const errorId = newErrorId();
      log.error({ err, errorId, subcommand }, 'corpus change failed');
      const reason = (err instanceof Error ? err.message : String(err)).slice(0, 300);
      await reply(
        interaction,
        say(
          `Échec de \`/corpus ${subcommand}\` : ${reason}. Le corpus et l’index précédents restent en service. Référence : \`${errorId}\`.`,
          `\`/corpus ${subcommand}\` failed: ${reason}. The previous corpus and index keep serving. Reference: \`${errorId}\`.`,
        ),
      );
    }
  },
  async autocomplete(interaction, ctx) {
    const choices = ctx.service.findDocuments(interaction.options.getFocused(), 25).map((d) => {
      const name = `${d.title} (${d.id})`;
      return {
        name: name.length > 100 ? `${d.title.slice(0, 96 - d.id.length - 3)}… (${d.id})`.slice(0, 100) : name,
        value: d.id.slice(0, 100),
      };
    });
    await interaction.respond(choices);
  },
} satisfies Command;
