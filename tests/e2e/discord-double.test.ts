import { once } from 'node:events';
import WebSocket from 'ws';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ApplicationCommandOptionType,
  Client,
  Events,
  GatewayIntentBits,
  MessageFlags,
  Partials,
  PermissionFlagsBits,
  type ClientEvents,
  type Interaction,
  type Message,
} from 'discord.js';
import { startDiscordDouble, type DiscordDouble } from '../helpers/discord-double.js';

let double: DiscordDouble;
const clients: Client[] = [];

function createClient(): Client {
  const client = new Client({
    intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.DirectMessages],
    partials: [Partials.Channel],
    rest: { api: double.apiBase },
  });
  clients.push(client);
  return client;
}

async function loginReady(): Promise<Client<true>> {
  const client = createClient();
  const ready = once(client, Events.ClientReady);
  await client.login(double.token);
  await ready;
  return client as Client<true>;
}

function next<K extends keyof ClientEvents>(client: Client, event: K): Promise<ClientEvents[K]> {
  return once(client, event) as unknown as Promise<ClientEvents[K]>;
}

async function nextInteraction(client: Client): Promise<Interaction> {
  const [interaction] = await next(client, Events.InteractionCreate);
  return interaction;
}

async function nextMessage(client: Client): Promise<Message> {
  const [message] = await next(client, Events.MessageCreate);
  return message;
}

beforeEach(async () => {
  double = await startDiscordDouble();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.destroy()));
  await double.close();
});

describe('Discord test double with the real discord.js client', () => {
  it('logs in, fires ready and fetched the gateway with the bot token', async () => {
    const client = await loginReady();

    expect(client.user.id).toBe(double.bot.id);
    expect(client.guilds.cache.get(double.guildId)?.members.cache.size).toBe(6);
    const gateway = await double.waitForRequest((r) => r.path === '/gateway/bot');
    expect(gateway.method).toBe('GET');
    expect(gateway.headers.authorization).toBe('Bot test-token');
    expect(double.identifies).toBe(1);
  });

  it('rejects a login with an invalid token, and REST calls without the token get 401', async () => {
    const client = createClient();

    await expect(client.login('wrong-token')).rejects.toMatchObject({
      code: 'TokenInvalid',
      message: 'An invalid token was provided.',
    });
    const anonymous = await fetch(`${double.apiBase}/v10/users/@me`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toEqual({ message: '401: Unauthorized', code: 0 });
    const unknown = await fetch(`${double.apiBase}/v10/nowhere`, {
      headers: { authorization: 'Bot test-token' },
    });
    expect(unknown.status).toBe(404);
    expect(double.identifies).toBe(0);
  });

  it('delivers a slash command with options, locale and member permissions; defer, edit and follow-up reach Discord', async () => {
    const client = await loginReady();

    const arriving = nextInteraction(client);
    const sent = double.sendCommand({
      name: 'ask',
      options: [{ name: 'question', type: ApplicationCommandOptionType.String, value: 'Who resigned?' }],
      user: double.users.moderator,
      locale: 'fr',
    });
    const interaction = await arriving;

    if (!interaction.isChatInputCommand()) throw new Error('expected a chat input command');
    expect(interaction.id).toBe(sent.id);
    expect(interaction.commandName).toBe('ask');
    expect(interaction.options.getString('question', true)).toBe('Who resigned?');
    expect(interaction.locale).toBe('fr');
    expect(interaction.inGuild()).toBe(true);
    expect(interaction.memberPermissions?.has(PermissionFlagsBits.ManageGuild)).toBe(true);
    expect(interaction.user.id).toBe(double.users.moderator.id);

    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    const callback = await double.waitForRequest(
      (r) => r.path === `/interactions/${sent.id}/${sent.token}/callback`,
    );
    expect(callback.body).toEqual({ type: 5, data: { flags: 64 } });
    expect(callback.query).toEqual({ with_response: 'false' });
    expect(callback.headers.authorization).toBeUndefined();
    expect(callback.response?.status).toBe(204);

    const edited = await interaction.editReply({
      content: 'The minister resigned.',
      allowedMentions: { parse: [] },
    });
    const patch = await double.waitForRequest(
      (r) =>
        r.method === 'PATCH' &&
        r.path === `/webhooks/${double.applicationId}/${sent.token}/messages/@original`,
    );
    expect(patch.body).toMatchObject({ content: 'The minister resigned.', allowed_mentions: { parse: [] } });
    expect(edited.content).toBe('The minister resigned.');
    expect(edited.flags.has(MessageFlags.Ephemeral)).toBe(true);

    const followUp = await interaction.followUp({ content: 'Sources: 2', flags: MessageFlags.Ephemeral });
    const post = await double.waitForRequest(
      (r) => r.method === 'POST' && r.path === `/webhooks/${double.applicationId}/${sent.token}`,
    );
    expect(post.query.wait).toBe('true');
    expect(post.body).toMatchObject({ content: 'Sources: 2', flags: 64 });
    expect(followUp.id).toBe((post.response?.body as { id: string }).id);
    expect(followUp.flags.has(MessageFlags.Ephemeral)).toBe(true);
  });

  it('gives a plain member no Manage Guild and a role moderator the moderator role; subcommands nest', async () => {
    const client = await loginReady();

    const first = nextInteraction(client);
    double.sendCommand({
      name: 'corpus',
      options: [{ name: 'list', type: ApplicationCommandOptionType.Subcommand, options: [] }],
      user: double.users.roleModerator,
    });
    const interaction = await first;
    if (!interaction.isChatInputCommand() || !interaction.inCachedGuild())
      throw new Error('expected a guild command');
    expect(interaction.options.getSubcommand()).toBe('list');
    expect(interaction.memberPermissions.has(PermissionFlagsBits.ManageGuild)).toBe(false);
    expect(interaction.member.roles.cache.has(double.moderatorRoleId)).toBe(true);

    const second = nextInteraction(client);
    double.sendCommand({ name: 'corpus', user: double.users.member });
    const plain = await second;
    expect(plain.memberPermissions?.has(PermissionFlagsBits.ManageGuild)).toBe(false);
    expect(plain.memberPermissions?.has(PermissionFlagsBits.SendMessages)).toBe(true);
  });

  it('delivers a button click as a ButtonInteraction that can reply', async () => {
    const client = await loginReady();

    const arriving = nextInteraction(client);
    const sent = double.clickButton({ customId: 'sources:42', message: { content: 'An answer' } });
    const interaction = await arriving;

    if (!interaction.isButton()) throw new Error('expected a button');
    expect(interaction.customId).toBe('sources:42');
    expect(interaction.message.content).toBe('An answer');
    expect(interaction.message.author.id).toBe(double.bot.id);

    await interaction.reply({ content: 'Here are the sources', flags: MessageFlags.Ephemeral });
    const callback = await double.waitForRequest(
      (r) => r.path === `/interactions/${sent.id}/${sent.token}/callback`,
    );
    expect(callback.body).toMatchObject({ type: 4, data: { content: 'Here are the sources', flags: 64 } });
  });

  it('delivers a DM as a Message in a DM channel; reply and typing go to that channel', async () => {
    const client = await loginReady();

    const arriving = nextMessage(client);
    const sent = double.sendMessage({ content: 'What happened?', dm: true, author: double.users.member });
    const message = await arriving;

    expect(message.id).toBe(sent.id);
    expect(message.content).toBe('What happened?');
    expect(message.channel.isDMBased()).toBe(true);
    expect(message.guildId).toBeNull();
    const dm = double.dmChannelId(double.users.member);
    expect(message.channelId).toBe(dm);

    if (!message.channel.isSendable()) throw new Error('expected a sendable DM channel');
    await message.channel.sendTyping();
    await double.waitForRequest((r) => r.method === 'POST' && r.path === `/channels/${dm}/typing`);

    const reply = await message.reply({ content: 'An answer', allowedMentions: { parse: [] } });
    const post = await double.waitForRequest(
      (r) => r.method === 'POST' && r.path === `/channels/${dm}/messages`,
    );
    expect(post.body).toMatchObject({
      content: 'An answer',
      allowed_mentions: { parse: [] },
      message_reference: { message_id: sent.id },
    });
    expect(reply.author.id).toBe(double.bot.id);
    expect(reply.reference?.messageId).toBe(sent.id);
  });

  it('delivers a guild message that mentions the bot with its content; others arrive without content', async () => {
    const client = await loginReady();

    const mentioning = nextMessage(client);
    double.sendMessage({ content: 'who resigned?', mentionBot: true, author: double.users.member });
    const message = await mentioning;

    expect(message.inGuild()).toBe(true);
    expect(message.mentions.users.has(double.bot.id)).toBe(true);
    expect(message.content).toBe(`<@${double.bot.id}> who resigned?`);

    const plain = nextMessage(client);
    double.sendMessage({ content: 'just chatting', author: double.users.member });
    expect((await plain).content).toBe('');
  });

  it('resumes after a dropped gateway connection and keeps receiving interactions', async () => {
    const client = await loginReady();

    await double.dropConnection(4000);
    expect(double.resumes).toBe(1);
    expect(double.identifies).toBe(1);

    const arriving = nextInteraction(client);
    const sent = double.sendCommand({ name: 'ask', options: [] });
    expect((await arriving).id).toBe(sent.id);
  });

  it('replays an interaction dispatched while the connection was down once the client resumes', async () => {
    const client = await loginReady();

    const arriving = nextInteraction(client);
    const back = double.dropConnection(4000);
    const sent = double.sendCommand({ name: 'ask' });
    await back;
    expect((await arriving).id).toBe(sent.id);
    expect(double.resumes).toBe(1);
  });

  it('closes the gateway with 4004 on an IDENTIFY with a wrong token', async () => {
    const socket = new WebSocket(`${double.origin.replace('http', 'ws')}/?v=10&encoding=json`);
    const [hello] = await once(socket, 'message');
    expect(JSON.parse(String(hello))).toMatchObject({ op: 10, d: { heartbeat_interval: 45_000 } });
    socket.send(JSON.stringify({ op: 2, d: { token: 'wrong', intents: 0, properties: {} } }));
    const [code] = await once(socket, 'close');
    expect(code).toBe(4004);
  });

  it('answers a deferral with_response=true with the loading message', async () => {
    const client = await loginReady();

    const arriving = nextInteraction(client);
    double.sendCommand({ name: 'ask', dm: true, user: double.users.owner });
    const interaction = await arriving;
    if (!interaction.isChatInputCommand()) throw new Error('expected a chat input command');
    expect(interaction.inGuild()).toBe(false);
    expect(interaction.channel?.isDMBased()).toBe(true);
    expect(interaction.memberPermissions).toBeNull();

    const response = await interaction.deferReply({ withResponse: true });
    const callback = await double.waitForRequest((r) => r.path.endsWith('/callback'));
    expect(callback.query).toEqual({ with_response: 'true' });
    expect(response.interaction.responseMessageLoading).toBe(true);
    expect(response.resource?.message?.flags.has(MessageFlags.Loading)).toBe(true);
    const edited = await interaction.editReply('done');
    expect(edited.id).toBe(response.resource?.message?.id);
    expect(edited.flags.has(MessageFlags.Loading)).toBe(false);
  });

  it('resolves an attachment option to the URL the double serves', async () => {
    const client = await loginReady();
    const url = double.serveFile('article.txt', 'The minister resigned on Monday.', {
      contentType: 'text/plain',
    });

    const arriving = nextInteraction(client);
    double.sendCommand({
      name: 'corpus',
      options: [
        {
          name: 'add',
          type: ApplicationCommandOptionType.Subcommand,
          options: [{ name: 'file', type: ApplicationCommandOptionType.Attachment, value: '99' }],
        },
      ],
      attachments: [{ id: '99', filename: 'article.txt', contentType: 'text/plain', size: 32, url }],
      user: double.users.moderator,
    });
    const interaction = await arriving;

    if (!interaction.isChatInputCommand()) throw new Error('expected a chat input command');
    const attachment = interaction.options.getAttachment('file', true);
    expect(attachment.url).toBe(url);
    expect(attachment.name).toBe('article.txt');
    expect(attachment.contentType).toBe('text/plain');
    const response = await fetch(attachment.url);
    expect(await response.text()).toBe('The minister resigned on Monday.');
  });

  it('delivers autocomplete with the focused option and sends choices back', async () => {
    const client = await loginReady();

    const arriving = nextInteraction(client);
    const sent = double.sendAutocomplete({
      name: 'ask',
      options: [{ name: 'source', type: ApplicationCommandOptionType.String, value: 'guar' }],
    });
    const interaction = await arriving;

    if (!interaction.isAutocomplete()) throw new Error('expected autocomplete');
    expect(interaction.options.getFocused(true)).toMatchObject({ name: 'source', value: 'guar' });
    await interaction.respond([{ name: 'The Guardian', value: 'guardian' }]);
    const callback = await double.waitForRequest(
      (r) => r.path === `/interactions/${sent.id}/${sent.token}/callback`,
    );
    expect(callback.body).toEqual({
      type: 8,
      data: { choices: [{ name: 'The Guardian', value: 'guardian' }] },
    });
  });

  it('uploads files as multipart and answers a second acknowledgement with 40060', async () => {
    const client = await loginReady();

    const arriving = nextInteraction(client);
    double.sendCommand({ name: 'ask' });
    const interaction = await arriving;
    if (!interaction.isChatInputCommand()) throw new Error('expected a chat input command');

    await interaction.reply({
      content: 'see file',
      files: [{ attachment: Buffer.from('quote'), name: 'q.txt' }],
    });
    const callback = await double.waitForRequest((r) => r.path.endsWith('/callback'));
    expect(callback.body).toMatchObject({ type: 4, data: { content: 'see file' } });
    expect(callback.files).toHaveLength(1);
    expect(callback.files[0]).toMatchObject({ name: 'q.txt', field: 'files[0]' });
    expect(callback.files[0]?.data.toString()).toBe('quote');

    const again = await fetch(
      `${double.apiBase}/v10/interactions/${interaction.id}/${interaction.token}/callback`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type: 5 }),
      },
    );
    expect(again.status).toBe(400);
    expect(await again.json()).toMatchObject({ code: 40060 });
  });
});
