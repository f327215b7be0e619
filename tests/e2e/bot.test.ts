import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApplicationCommandOptionType } from 'discord.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fitsDiscordLimits, type RenderedMessage } from '../../src/bot/render.js';
import type { QaService } from '../../src/rag/service.js';
import {
  askAndWait,
  isCallback,
  isFinalEdit,
  option,
  overrideService,
  quotesOf,
  SEED,
  startHarness,
  sub,
  type AskExtra,
  type Harness,
} from './bot-harness.js';

const NEW_ARTICLE = `---
id: amazon-contrat
title: Amazon récupère les données de l’armée israélienne
language: fr
url: https://example.org/amazon
---
Amazon Web Services héberge désormais les données que l’unité 8200 a retirées d’Azure.

Le contrat, signé en septembre, porte sur plusieurs pétaoctets d’enregistrements.
`;

describe('Verbatim on Discord (real discord.js client against a local Discord double)', () => {
  let h: Harness;
  let article: string;
  const normalised = () => article.replace(/\s+/g, ' ');

  beforeEach(async () => {
    h = await startHarness();
    article = await readFile(SEED, 'utf8');
  });
  afterEach(async () => {
    await h.stop();
  });

  const ask = (question: string, extra: AskExtra = {}) => askAndWait(h.double, question, extra);

  it('/ask in a guild: defers, then answers with verbatim block quotes, sources, buttons, and no mentions parsed', async () => {
    const { callback, edit } = await ask('Qui a révélé les résultats de l’enquête interne ?');
    expect(callback.body).toMatchObject({ type: 5 });
    expect(callback.body.data?.flags ?? 0).toBe(0);
    const embed = edit.body.embeds[0];
    expect(embed.description).toMatch(/^Voici/);
    const quotes = quotesOf(embed.description);
    expect(quotes.length).toBeGreaterThan(0);
    for (const q of quotes) expect(normalised()).toContain(q);
    expect(embed.fields[0].name).toBe('Sources');
    expect(embed.fields[0].value).toContain('[1] Pratiquement une rupture totale');
    expect(edit.body.allowed_mentions).toEqual({ parse: [] });
    expect(
      edit.body.components[0].components.map((c: { custom_id: string }) => c.custom_id.split(':')[0]),
    ).toEqual(['sources', 'feedback', 'feedback']);
    expect(fitsDiscordLimits(edit.body as RenderedMessage)).toBe(true);
    const privileged = (1 << 1) | (1 << 8) | (1 << 15);
    expect((h.double.intents ?? 0) & privileged).toBe(0);
  });

  it('/help lists the documents with their titles and the corpus version, privately', async () => {
    const help = h.double.sendCommand({ name: 'help', user: h.double.users.member, locale: 'fr' });
    expect((await h.double.waitForRequest(isCallback(help.id))).body).toMatchObject({
      type: 5,
      data: { flags: 64 },
    });
    const reply = await h.double.waitForRequest(isFinalEdit(help.token));
    const embed = reply.body.embeds[0];
    expect(embed.fields[0]).toMatchObject({
      name: 'Documents (1)',
      value: expect.stringContaining('Pratiquement une rupture totale'),
    });
    expect(embed.footer.text).toBe(`corpus ${h.app.service.corpusVersion}`);
    expect(embed.description).toContain('/ask');
  });

  it('tells a user who asks again too soon how long to wait', async () => {
    await h.stop();
    h = await startHarness({ ASK_COOLDOWN_SECONDS: '60' });
    await ask('Qui est Brad Smith ?');
    const again = h.double.sendCommand({
      name: 'ask',
      locale: 'fr',
      user: h.double.users.member,
      options: [option('question', 'Et Amazon ?')],
    });
    const reply = await h.double.waitForRequest(isCallback(again.id));
    expect(reply.body).toMatchObject({
      type: 4,
      data: { flags: 64, content: expect.stringMatching(/reposer une question dans \d+ s/) },
    });
  });

  it('/ask private: the deferral and the answer are ephemeral', async () => {
    const { callback, edit } = await ask('Qui est Brad Smith ?', { private: true });
    expect(callback.body).toMatchObject({ type: 5, data: { flags: 64 } });
    expect(quotesOf(edit.body.embeds[0].description).join(' ')).toContain('Brad Smith');
  });

  it('/ask follows the interaction locale, unless the question is clearly in the other language', async () => {
    const english = await ask('Quelles entreprises collaborent avec Israël ?', { locale: 'en-US' });
    expect(english.edit.body.embeds[0].description).toMatch(/^Voici/);
    const { edit } = await ask('Which companies work with Israel besides Microsoft?', { locale: 'fr' });
    expect(edit.body.embeds[0].description).toMatch(/^Here/);
    expect(edit.body.components[0].components.map((c: { label: string }) => c.label)).toEqual([
      'Sources',
      'Helpful',
      'Not helpful',
    ]);
  });

  it('answers a mention as a reply to the message, showing the typing indicator first', async () => {
    const message = h.double.sendMessage({
      content: 'où vont les données de l’armée israélienne ?',
      mentionBot: true,
      author: h.double.users.member,
    });
    const typing = await h.double.waitForRequest(
      (r) => r.method === 'POST' && r.path === `/channels/${h.double.textChannelId}/typing`,
    );
    const reply = await h.double.waitForRequest(
      (r) => r.method === 'POST' && r.path === `/channels/${h.double.textChannelId}/messages`,
    );
    expect(typing.at).toBeLessThanOrEqual(reply.at);
    expect(reply.body.message_reference).toMatchObject({ message_id: message.id });
    expect(reply.body.allowed_mentions).toMatchObject({ parse: [] });
    expect(quotesOf(reply.body.embeds[0].description).join(' ')).toContain('Amazon');
  });

  it('ignores guild messages that do not mention the bot, and messages from bots', async () => {
    h.double.sendMessage({ content: 'Microsoft et Azure, quelle histoire', author: h.double.users.member });
    h.double.sendMessage({
      content: 'Pourquoi Microsoft ?',
      author: { id: '999000111222333444', username: 'other-bot', bot: true },
      mentionBot: true,
    });
    const marker = h.double.sendMessage({
      content: 'Qui est Brad Smith ?',
      mentionBot: true,
      author: h.double.users.member,
    });
    const reply = await h.double.waitForRequest(
      (r) => r.method === 'POST' && r.path === `/channels/${h.double.textChannelId}/messages`,
    );
    expect(reply.body.message_reference.message_id).toBe(marker.id);
    expect(h.double.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/messages'))).toHaveLength(
      1,
    );
  });

  it('answers direct messages and reads a follow-up with the previous turn of that conversation', async () => {
    const dm = h.double.dmChannelId(h.double.users.member);
    const toDm = (after: number) =>
      h.double.waitForRequest((r) => r.method === 'POST' && r.path === `/channels/${dm}/messages`, { after });
    h.double.sendMessage({
      content: 'Que font les militaires israéliens de leurs données ?',
      dm: true,
      author: h.double.users.member,
    });
    const first = await toDm(0);
    expect(first.body.embeds[0].description).toMatch(/^Voici/);
    let mark = h.double.requests.length;
    h.double.sendMessage({ content: 'et Google ?', dm: true, author: h.double.users.member });
    const followUp = await toDm(mark);
    const otherDm = h.double.dmChannelId(h.double.users.roleModerator);
    mark = h.double.requests.length;
    h.double.sendMessage({ content: 'et Google ?', dm: true, author: h.double.users.roleModerator });
    const alone = await h.double.waitForRequest(
      (r) => r.method === 'POST' && r.path === `/channels/${otherDm}/messages`,
      { after: mark },
    );
    expect(quotesOf(followUp.body.embeds[0].description)).not.toEqual(
      quotesOf(alone.body.embeds[0].description),
    );
    expect(h.double.requests.some((r) => r.path === `/channels/${dm}/typing`)).toBe(true);
  });

  it('Sources shows the passage around each quote, ephemerally; feedback is stored with the question and corpus version', async () => {
    const { edit } = await ask('Qui est Brad Smith ?');
    const [sourcesButton, up] = edit.body.components[0].components as { custom_id: string }[];
    const click = h.double.clickButton({
      customId: sourcesButton?.custom_id ?? '',
      user: h.double.users.moderator,
    });
    const sources = await h.double.waitForRequest(isCallback(click.id));
    expect(sources.body).toMatchObject({ type: 4, data: { flags: 64, allowed_mentions: { parse: [] } } });
    const passage = sources.body.data.embeds[0].description as string;
    expect(passage).toMatch(/\*\*[^*]*Brad Smith[^*]*\*\*/);

    const vote = h.double.clickButton({ customId: up?.custom_id ?? '', user: h.double.users.moderator });
    const thanks = await h.double.waitForRequest(isCallback(vote.id));
    expect(thanks.body).toMatchObject({ type: 4, data: { flags: 64 } });
    expect(thanks.body.data.content).toMatch(/Merci/);
    const feedback = h.bot.context.store.listFeedback();
    expect(feedback).toEqual([
      expect.objectContaining({
        helpful: true,
        question: 'Qui est Brad Smith ?',
        corpusVersion: h.app.service.corpusVersion,
        userId: h.double.users.moderator.id,
      }),
    ]);
  });

  it('/corpus add with an attachment, then /ask answers from it verbatim; /corpus remove, then it no longer answers', async () => {
    const url = h.double.serveFile('amazon.md', NEW_ARTICLE, { contentType: 'text/markdown' });
    const add = h.double.sendCommand({
      name: 'corpus',
      locale: 'fr',
      user: h.double.users.moderator,
      options: sub('add', [{ name: 'file', type: ApplicationCommandOptionType.Attachment, value: 'att1' }]),
      attachments: [
        { id: 'att1', filename: 'amazon.md', contentType: 'text/markdown', size: NEW_ARTICLE.length, url },
      ],
    });
    const added = await h.double.waitForRequest(isFinalEdit(add.token));
    expect(added.body.content).toMatch(/Document ajouté .*amazon-contrat/);
    expect(await readdir(h.corpusDir)).toContain('amazon-contrat.md');

    const { edit } = await ask('Sur quoi porte le contrat signé par Amazon ?');
    const quotes = quotesOf(edit.body.embeds[0].description);
    expect(
      quotes.some((q) => NEW_ARTICLE.includes(q) && q.includes('pétaoctets')),
      JSON.stringify(edit.body.embeds[0]),
    ).toBe(true);
    expect(edit.body.embeds[0].fields[0].value).toContain('(https://example.org/amazon)');

    const remove = h.double.sendCommand({
      name: 'corpus',
      locale: 'fr',
      user: h.double.users.moderator,
      options: sub('remove', [option('document', 'amazon-contrat')]),
    });
    const removed = await h.double.waitForRequest(isFinalEdit(remove.token));
    expect(removed.body.content).toMatch(/Document retiré/);
    expect(await readdir(h.corpusDir)).not.toContain('amazon-contrat.md');
    expect(await readdir(join(h.corpusDir, '.removed'))).toHaveLength(1);
    const audit = h.bot.context.store.listAudit();
    expect(audit.map((a) => [a.action, a.userId, a.guildId])).toEqual([
      ['add', h.double.users.moderator.id, h.double.guildId],
      ['remove', h.double.users.moderator.id, h.double.guildId],
    ]);
    expect(audit.every((a) => !Number.isNaN(Date.parse(a.at)) && a.detail.includes('amazon-contrat'))).toBe(
      true,
    );
    const after = await ask('Sur quoi porte le contrat signé par Amazon ?', {
      user: h.double.users.roleModerator,
    });
    const text = JSON.stringify(after.edit.body);
    expect(text).not.toContain('pétaoctets');
  });

  it('/corpus add url: extracts a web page; an unreachable address changes nothing', async () => {
    const page = h.double.serveFile(
      'article.html',
      '<html><head><title>Google et le projet Nimbus</title><meta property="og:site_name" content="La Gazette"></head><body><nav>Accueil | Monde</nav><article><h1>Google et le projet Nimbus</h1><p>Des employés de Google contestent depuis 2021 le contrat Nimbus signé avec le gouvernement israélien.</p><p>La direction de Google défend un contrat destiné à des usages civils.</p></article><footer>© La Gazette</footer></body></html>',
      { contentType: 'text/html; charset=utf-8' },
    );
    const add = h.double.sendCommand({
      name: 'corpus',
      locale: 'fr',
      user: h.double.users.moderator,
      options: sub('add', [option('url', page)]),
    });
    expect((await h.double.waitForRequest(isFinalEdit(add.token))).body.content).toMatch(
      /Document ajouté .*Google et le projet Nimbus/,
    );
    const doc = h.app.service.listDocuments().find((d) => d.title === 'Google et le projet Nimbus');
    expect(doc).toMatchObject({ url: page, source: 'La Gazette' });
    expect(h.app.service.getDocument(doc?.id ?? '')?.text).not.toMatch(/Accueil|©/);
    const { edit } = await ask('Que contestent les employés de Google ?');
    expect(quotesOf(edit.body.embeds[0].description)[0]).toContain(
      'contestent depuis 2021 le contrat Nimbus',
    );

    const before = await readdir(h.corpusDir);
    const missing = h.double.sendCommand({
      name: 'corpus',
      locale: 'fr',
      user: h.double.users.moderator,
      options: sub('add', [option('url', `${h.double.origin}/files/nothing-here.html`)]),
    });
    expect((await h.double.waitForRequest(isFinalEdit(missing.token))).body.content).toMatch(
      /n’a pas été ajouté : .*HTTP 404\. Le corpus n’a pas changé/,
    );
    expect(await readdir(h.corpusDir)).toEqual(before);
  });

  it('/corpus remove autocompletes document ids and titles', async () => {
    const auto = h.double.sendAutocomplete({
      name: 'corpus',
      user: h.double.users.moderator,
      options: sub('remove', [{ name: 'document', type: 3, value: 'micro', focused: true }]),
    });
    const response = await h.double.waitForRequest(isCallback(auto.id));
    expect(response.body.type).toBe(8);
    expect(response.body.data.choices).toEqual([
      {
        name: expect.stringContaining('(microsoft-azure-israel-defense)'),
        value: 'microsoft-azure-israel-defense',
      },
    ]);
    expect(response.body.data.choices[0].name.length).toBeLessThanOrEqual(100);
  });

  it('/corpus list shows one page of documents at a time, and autocomplete the first matches by id', async () => {
    const ids = Array.from({ length: 44 }, (_, i) => `zz-article-${String(i).padStart(2, '0')}`);
    // File names in the reverse order of the ids, so that the order the files are read in is not the id order.
    for (const [i, id] of ids.entries())
      await writeFile(
        join(h.corpusDir, `${String(ids.length - i).padStart(2, '0')}.md`),
        `---\nid: ${id}\ntitle: Dépêche ${i} sur Azure\nlanguage: fr\n---\nMicrosoft a suspendu des services (${i}).\n`,
      );
    expect((await h.app.service.refresh()).kind).toBe('refreshed');
    const sorted = ['microsoft-azure-israel-defense', ...ids];
    const page = async (n?: number) => {
      const i = h.double.sendCommand({
        name: 'corpus',
        user: h.double.users.moderator,
        options: sub(
          'list',
          n ? [{ name: 'page', type: ApplicationCommandOptionType.Integer, value: n }] : [],
        ),
      });
      return (await h.double.waitForRequest(isFinalEdit(i.token))).body.content as string;
    };
    const listed = (content: string) => [...content.matchAll(/\(`([^`]+)`/g)].map((m) => m[1]);

    const first = await page();
    expect(first).toMatch(/^\*\*45 document\(s\)\*\*, corpus \S+, page 1\/3/);
    expect(listed(first)).toEqual(sorted.slice(0, 20));
    expect(first).toContain('Next: `/corpus list page:2`');
    const last = await page(3);
    expect(listed(last)).toEqual(sorted.slice(40));
    expect(last).not.toContain('Next:');
    expect(await page(4)).toBe('There are only 3 page(s) of 20 documents.');

    const auto = h.double.sendAutocomplete({
      name: 'corpus',
      user: h.double.users.moderator,
      options: sub('remove', [{ name: 'document', type: 3, value: 'DÉPÊCHE 3', focused: true }]),
    });
    const choices = (await h.double.waitForRequest(isCallback(auto.id))).body.data.choices;
    expect(choices.map((c: { value: string }) => c.value)).toEqual(['zz-article-03', ...ids.slice(30, 40)]);
  });

  it('/corpus refresh picks up a file changed on disk and reports what changed', async () => {
    const file = join(h.corpusDir, 'microsoft-azure-israel-defense.md');
    const original = await readFile(file, 'utf8');
    await writeFile(file, original.replace('reste silencieuse à ce sujet', 'a refusé de commenter'));
    const refresh = h.double.sendCommand({
      name: 'corpus',
      locale: 'fr',
      user: h.double.users.moderator,
      options: sub('refresh'),
    });
    const reply = await h.double.waitForRequest(isFinalEdit(refresh.token));
    expect(reply.body.content).toMatch(/0 ajouté\(s\), 1 modifié\(s\), 0 retiré\(s\), 0 inchangé\(s\)/);
    const { edit } = await ask('Amazon a-t-il commenté ?');
    expect(JSON.stringify(edit.body)).toContain('a refusé de commenter');
    expect(h.bot.context.store.listAudit().map((a) => a.action)).toEqual(['refresh']);
  });

  it('refuses every /corpus subcommand to a member without rights, and changes nothing', async () => {
    const before = await readdir(h.corpusDir);
    const url = h.double.serveFile('x.md', NEW_ARTICLE);
    for (const options of [
      sub('refresh'),
      sub('list'),
      sub('remove', [option('document', 'microsoft-azure-israel-defense')]),
      sub('add', [{ name: 'file', type: ApplicationCommandOptionType.Attachment, value: 'a1' }]),
    ]) {
      const i = h.double.sendCommand({
        name: 'corpus',
        locale: 'fr',
        user: h.double.users.member,
        options,
        attachments: [{ id: 'a1', filename: 'x.md', url, size: 10 }],
      });
      const reply = await h.double.waitForRequest(isCallback(i.id));
      expect(reply.body).toMatchObject({
        type: 4,
        data: { flags: 64, content: expect.stringMatching(/réservée aux modérateurs/) },
      });
    }
    expect(await readdir(h.corpusDir)).toEqual(before);
    expect(h.app.service.listDocuments()).toHaveLength(1);
    expect(h.double.requests.some((r) => r.path.startsWith('/files/'))).toBe(false);
  });

  it('lets a moderator role and an owner in a DM use /corpus, but not a member in a DM', async () => {
    const byRole = h.double.sendCommand({
      name: 'corpus',
      locale: 'fr',
      user: h.double.users.roleModerator,
      options: sub('list'),
    });
    expect((await h.double.waitForRequest(isFinalEdit(byRole.token))).body.content).toMatch(/1 document/);
    const byOwner = h.double.sendCommand({
      name: 'corpus',
      locale: 'fr',
      user: h.double.users.owner,
      options: sub('list'),
      dm: true,
    });
    expect((await h.double.waitForRequest(isFinalEdit(byOwner.token))).body.content).toMatch(
      /microsoft-azure-israel-defense/,
    );
    const byMember = h.double.sendCommand({
      name: 'corpus',
      locale: 'fr',
      user: h.double.users.member,
      options: sub('list'),
      dm: true,
    });
    expect((await h.double.waitForRequest(isCallback(byMember.id))).body.data.content).toMatch(/serveur/);
  });

  it('keeps answering after the gateway connection drops and resumes', async () => {
    await h.double.dropConnection(4000);
    expect(h.double.resumes).toBe(1);
    const { edit } = await ask('Qui est Brad Smith ?');
    expect(quotesOf(edit.body.embeds[0].description).length).toBeGreaterThan(0);
  });

  it('defers and answers 50 simultaneous /ask, telling queued users they are waiting', async () => {
    const users = Array.from({ length: 50 }, (_, i) => ({
      id: `80000000000000${String(i).padStart(4, '0')}`,
      username: `user${i}`,
    }));
    const interactions = users.map((user, i) =>
      h.double.sendCommand({
        name: 'ask',
        user,
        options: [option('question', i % 2 ? 'Qui est Brad Smith ?' : 'What did the investigation find?')],
      }),
    );
    const callbacks = await Promise.all(
      interactions.map((i) => h.double.waitForRequest(isCallback(i.id), { timeoutMs: 30_000 })),
    );
    expect(callbacks.every((c) => c.body.type === 5)).toBe(true);
    const answers = await Promise.all(
      interactions.map((i) => h.double.waitForRequest(isFinalEdit(i.token), { timeoutMs: 60_000 })),
    );
    for (const a of answers) {
      expect(quotesOf(a.body.embeds[0].description).length).toBeGreaterThan(0);
      expect(a.body.allowed_mentions).toEqual({ parse: [] });
    }
    const queuedNotices = h.double.requests.filter(
      (r) => r.method === 'PATCH' && String(r.body?.content ?? '').startsWith('⏳'),
    );
    expect(queuedNotices.length).toBeGreaterThan(0);
    expect(queuedNotices[0]?.body.content).toMatch(/position \d+/);
  });

  it('answers hostile input safely: mention bait, over-long questions, control characters', async () => {
    const bait = await ask(
      '@everyone <@&123456789012345678> <@111111111111111111> Microsoft a-t-il suspendu Azure ? @here',
    );
    expect(bait.edit.body.allowed_mentions).toEqual({ parse: [] });
    const long = await ask('Pourquoi ? '.repeat(600).slice(0, 6000));
    expect(long.edit.body.content).toMatch(/trop longue : 500 caractères au plus/);
    const control = await ask('Qui\u0000 est\u0007 Brad\u200b Smith\u001b[31m ?');
    expect(quotesOf(control.edit.body.embeds[0].description).join(' ')).toContain('Brad Smith');
    const message = h.double.sendMessage({
      content: '@everyone ' + 'x'.repeat(1990),
      mentionBot: true,
      author: h.double.users.member,
      mentionEveryone: true,
    });
    const reply = await h.double.waitForRequest(
      (r) => r.method === 'POST' && r.path === `/channels/${h.double.textChannelId}/messages`,
    );
    expect(reply.body.message_reference.message_id).toBe(message.id);
    expect(reply.body.allowed_mentions).toMatchObject({ parse: [] });
    expect(reply.body.content).toMatch(/500/);
  });

  it('refuses a binary attachment and keeps a hostile file name inside the corpus folder, losing nothing', async () => {
    const before = await readdir(h.corpusDir);
    const binary = h.double.serveFile(
      'photo.md',
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0]),
    );
    const bad = h.double.sendCommand({
      name: 'corpus',
      locale: 'fr',
      user: h.double.users.moderator,
      options: sub('add', [{ name: 'file', type: ApplicationCommandOptionType.Attachment, value: 'b1' }]),
      attachments: [{ id: 'b1', filename: 'photo.md', contentType: 'text/markdown', size: 11, url: binary }],
    });
    const refused = await h.double.waitForRequest(isFinalEdit(bad.token));
    expect(refused.body.content).toMatch(/n’a pas été ajouté : .*PNG.*Le corpus n’a pas changé/);
    expect(await readdir(h.corpusDir)).toEqual(before);

    const sneaky = h.double.serveFile('x.md', 'Une phrase ordinaire sur Azure et les données.');
    const traversal = h.double.sendCommand({
      name: 'corpus',
      locale: 'fr',
      user: h.double.users.moderator,
      options: sub('add', [{ name: 'file', type: ApplicationCommandOptionType.Attachment, value: 'c1' }]),
      attachments: [{ id: 'c1', filename: '../../x.md', size: 46, url: sneaky }],
    });
    const saved = await h.double.waitForRequest(isFinalEdit(traversal.token));
    expect(saved.body.content).toMatch(/Document ajouté/);
    expect((await readdir(h.corpusDir)).sort()).toEqual([...before, 'x.md'].sort());
    expect(await readdir(h.root)).toEqual(expect.not.arrayContaining(['x.md']));
    expect(
      h.app.service
        .listDocuments()
        .map((d) => d.id)
        .sort(),
    ).toEqual(['microsoft-azure-israel-defense', 'x']);
  });
});

describe('Verbatim on Discord: failures', () => {
  it('shows an error id when a handler fails, and keeps answering', async () => {
    const failing = (service: QaService) =>
      overrideService(service, {
        ask: async (question, options) => {
          if (question.includes('boom')) throw new Error('simulated failure');
          return service.ask(question, options);
        },
      });
    const h = await startHarness({}, failing);
    try {
      const broken = h.double.sendCommand({
        name: 'ask',
        locale: 'fr',
        user: h.double.users.member,
        options: [option('question', 'boom')],
      });
      const error = await h.double.waitForRequest(isFinalEdit(broken.token));
      expect(error.body.content).toMatch(/Une erreur est survenue\. Référence : `[0-9a-f]{8}`/);
      const { edit } = await askAndWait(h.double, 'Qui est Brad Smith ?');
      expect(edit.body.embeds[0].description).toMatch(/^Voici/);
    } finally {
      await h.stop();
    }
  });

  it('says what failed when a refresh crashes, and keeps serving the previous index', async () => {
    const h = await startHarness({}, (service: QaService) =>
      overrideService(service, {
        refresh: async () => {
          throw new Error('disk full while writing the index');
        },
      }),
    );
    try {
      const refresh = h.double.sendCommand({
        name: 'corpus',
        locale: 'fr',
        user: h.double.users.moderator,
        options: sub('refresh'),
      });
      const reply = await h.double.waitForRequest(isFinalEdit(refresh.token));
      expect(reply.body.content).toMatch(
        /Échec de `\/corpus refresh` : disk full while writing the index\. Le corpus et l’index précédents restent en service\. Référence : `[0-9a-f]{8}`/,
      );
      const { edit } = await askAndWait(h.double, 'Qui est Brad Smith ?');
      expect(edit.body.embeds[0].description).toMatch(/^Voici/);
    } finally {
      await h.stop();
    }
  });

  it('finishes the questions in flight before logging out', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const started = new Promise<void>((resolve) => (entered = resolve));
    const h = await startHarness({}, (service: QaService) =>
      overrideService(service, {
        ask: async (question, options) => {
          entered();
          await gate;
          return service.ask(question, options);
        },
      }),
    );
    try {
      const pending = h.double.sendCommand({
        name: 'ask',
        user: h.double.users.member,
        options: [option('question', 'Qui est Brad Smith ?')],
      });
      await started;
      const stopping = h.bot.stop();
      const late = h.double.sendCommand({
        name: 'ask',
        user: h.double.users.moderator,
        options: [option('question', 'Qui est Brad Smith ?')],
      });
      const refused = await h.double.waitForRequest(isCallback(late.id));
      expect(refused.body.data.content).toMatch(/redémarre/);
      release();
      await stopping;
      const answered = h.double.requests.find(isFinalEdit(pending.token));
      expect(answered?.body.embeds[0].description).toMatch(/^Voici/);
    } finally {
      await h.stop();
    }
  });
});
