import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  ApplicationCommandOptionType,
  ApplicationCommandType,
  ChannelType,
  ComponentType,
  GatewayDispatchEvents,
  GatewayIntentBits,
  GatewayOpcodes,
  InteractionContextType,
  InteractionResponseType,
  InteractionType,
  MessageFlags,
  MessageType,
  PermissionFlagsBits,
  type APIChannel,
  type ChannelFlags,
  type GuildMemberFlags,
  type RoleFlags,
  type UserFlags,
  type APIGuildMember,
  type APIMessage,
  type APIRole,
  type APIUser,
} from 'discord-api-types/v10';

/**
 * A local test double of Discord: REST (HTTP) and gateway (WebSocket, JSON) on one 127.0.0.1 port, into which the
 * real discord.js client logs in with `new Client({ rest: { api: double.apiBase } })`. It holds one guild with one
 * text channel, a handful of members with different permissions, and the DM channels it opens on demand. It records
 * every HTTP request (before answering it) so tests can wait for the call they expect, and it keeps enough state
 * (interactions, messages, gateway sessions) to answer the way Discord does: an interaction acknowledged twice gets
 * 40060, `@original` exists only after a callback, the first follow-up after a deferral replaces its "thinking…"
 * message, a RESUME replays missed events, and guild messages that do not mention the bot arrive without content
 * unless the client asked for the privileged MessageContent intent.
 *
 * It also injects faults: REST answers (429 with the rate-limit headers discord.js reads, 5xx, a reset connection)
 * for the next N requests of a route ({@link DiscordDouble.failRequests}), and gateway faults (a close code, an
 * abnormal closure, op 7 Reconnect, op 9 Invalid Session, unacknowledged heartbeats, a refused IDENTIFY). Tests
 * wait for the outcome with {@link DiscordDouble.waitForResponse}, `waitForIdentify()` and `waitForResume()`.
 */

/** A user of the double. */
export interface DoubleUser {
  id: string;
  username: string;
  global_name?: string;
  bot?: boolean;
}

/** An HTTP request as the double received it. */
export interface RecordedRequest {
  method: string;
  /** Path without the `/api/v10` prefix and without the query, e.g. `/interactions/123/tok/callback`. */
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | undefined>;
  /** Parsed JSON, the parsed `payload_json` of a multipart body, the raw text when not JSON, or `undefined`. */
  body: any;
  /** Files of a multipart body (`field` is the form field, e.g. `files[0]`); `[]` otherwise. */
  files: { name: string; field: string; contentType?: string; data: Buffer }[];
  /** `Date.now()` when received. */
  at: number;
  /** Filled in once the double has answered. */
  response?: { status: number; body: unknown };
  /** Set when an injected fault answered the request instead of the double's routes, e.g. `429`, `500`, `reset`. */
  fault?: string;
}

/**
 * A scripted REST failure (see {@link DiscordDouble.failRequests}).
 *
 * - `429`: Discord's rate-limit answer, with what `@discordjs/rest` reads: the `Retry-After` header (seconds;
 *   fractional values are honoured, so tests can use 0.05), `X-RateLimit-Limit`, `-Remaining: 0`, `-Reset`,
 *   `-Reset-After`, `-Bucket` and `-Scope` for a route limit, or `X-RateLimit-Global` and `-Scope: global` for the
 *   global limit; the body is `{ message, retry_after, global }`. discord.js waits and retries by itself.
 * - another status (500, 502, 503, ...): that status with a JSON body. discord.js retries a 5xx `rest.retries`
 *   times (3 by default) at once, then throws an `HTTPError`.
 * - `reset`: the connection is destroyed without an answer (discord.js does not retry this).
 */
export type RestFault =
  | { status: 429; retryAfter?: number; global?: boolean; scope?: 'user' | 'shared' }
  | { status: number; body?: unknown }
  | { reset: true };

/**
 * Which requests a fault hits: a predicate, or `'METHOD /path'` matched against the recorded path (without
 * `/api/v10`, `@original` decoded), where a segment `*` matches any one segment: for example the editReply route
 * is `PATCH /webhooks/{app}/{token}/messages/@original` with `*` for `{app}` and `{token}`.
 */
export type RequestMatch = string | ((r: RecordedRequest) => boolean);

/** A fault armed with {@link DiscordDouble.failRequests}. */
export interface InjectedFault {
  /** The requests it answered, in order. */
  readonly hits: RecordedRequest[];
  /** How many more requests it will answer. */
  readonly remaining: number;
  /** Resolves once it has answered all its requests. */
  readonly exhausted: Promise<void>;
  /** Disarms it. */
  cancel(): void;
}

/** A fault the double injected (REST or gateway), for reports. */
export interface InjectedFaultRecord {
  kind: string;
  target: string;
  at: number;
}

/** A gateway payload the double received from a client (the token is not kept). */
export interface ReceivedGatewayPayload {
  op: number;
  at: number;
  /** For RESUME: whether the double accepted it (`RESUMED`) or refused it (op 9). */
  accepted?: boolean;
}

/** A resolved attachment of a command (goes into `data.resolved.attachments`). */
export interface DoubleAttachment {
  /** Generated when omitted; the attachment option's `value` must be this id. */
  id?: string;
  filename: string;
  contentType?: string;
  /** Defaults to 0. */
  size?: number;
  /** Usually a URL from {@link DiscordDouble.serveFile}. */
  url: string;
}

export interface SendCommandInput {
  name: string;
  /** Raw API options (`{ name, type, value }`, subcommands as `{ name, type: 1, options }`). */
  options?: unknown[];
  user?: DoubleUser;
  locale?: string;
  /** In the bot's DM with `user` instead of the guild text channel. */
  dm?: boolean;
  attachments?: DoubleAttachment[];
  channelId?: string;
  /** Defaults to the id the command got from a PUT registration, else a stable id per name. */
  commandId?: string;
}

export interface SendAutocompleteInput {
  name: string;
  /** Raw API options; if none is marked `focused: true`, the last leaf option is. */
  options: unknown[];
  user?: DoubleUser;
  locale?: string;
  dm?: boolean;
}

export interface ClickButtonInput {
  customId: string;
  /** The message holding the button; merged over a minimal bot message in the channel. */
  message?: Partial<APIMessage>;
  user?: DoubleUser;
  locale?: string;
  dm?: boolean;
}

export interface SendMessageInput {
  content: string;
  author?: DoubleUser;
  /** Prefix the content with `<@botId>` and add the bot to `mentions`. */
  mentionBot?: boolean;
  /** In the author's DM with the bot (`channel_type: 1`, no `guild_id`). */
  dm?: boolean;
  mentions?: DoubleUser[];
  mentionEveryone?: boolean;
}

export interface StartDiscordDoubleOptions {
  /** The only token accepted (default `test-token`). */
  token?: string;
  /** Sent in HELLO (default 45000). discord.js sends its first heartbeat after a random part of it. */
  heartbeatIntervalMs?: number;
  /**
   * When set, an interaction callback later than this many ms after the INTERACTION_CREATE gets Discord's
   * `10062 Unknown interaction`, as after Discord's 3-second window. Off by default so slow machines stay green.
   */
  interactionDeadlineMs?: number;
}

export interface DiscordDouble {
  /** `http://127.0.0.1:PORT/api`: pass as `new Client({ rest: { api: apiBase } })`. */
  readonly apiBase: string;
  /** `http://127.0.0.1:PORT` */
  readonly origin: string;
  readonly token: string;
  readonly applicationId: string;
  /** The bot's own user (its id equals the application id, as for every modern application). */
  readonly bot: DoubleUser;
  readonly guildId: string;
  readonly textChannelId: string;
  /** Members of the guild. Only `moderator` has Manage Guild (through the role `adminRoleId`). */
  readonly users: { moderator: DoubleUser; member: DoubleUser; owner: DoubleUser; roleModerator: DoubleUser };
  /** The guild's owner (`owner_id`): none of {@link users}, and has every permission. */
  readonly guildOwner: DoubleUser;
  /** The role held by `roleModerator`, without any special permission. */
  readonly moderatorRoleId: string;
  /** The role with Manage Guild held by `moderator`. */
  readonly adminRoleId: string;
  /** Every HTTP request, in order. */
  readonly requests: RecordedRequest[];
  /** Every message the double holds (sent by the bot or dispatched by the test), by id. */
  readonly messages: ReadonlyMap<string, APIMessage>;
  waitForRequest(
    predicate: (r: RecordedRequest) => boolean,
    options?: { timeoutMs?: number; after?: number },
  ): Promise<RecordedRequest>;
  waitForReady(): Promise<void>;
  readonly identifies: number;
  readonly resumes: number;
  /** The intents of the last IDENTIFY, or `undefined` before one. */
  readonly intents: number | undefined;
  dispatch(t: string, d: unknown): void;
  /** The DM channel id the double uses between the bot and `user`. */
  dmChannelId(user: DoubleUser): string;
  sendCommand(input: SendCommandInput): { id: string; token: string };
  sendAutocomplete(input: SendAutocompleteInput): { id: string; token: string };
  clickButton(input: ClickButtonInput): { id: string; token: string };
  sendMessage(input: SendMessageInput): APIMessage;
  dropConnection(code?: number): Promise<void>;
  /**
   * Like {@link waitForRequest}, but resolves once the double has answered the request (so `response` and `fault`
   * are set), and the predicate sees the answer: `waitForResponse((r) => isEdit(r) && r.response!.status === 200)`.
   */
  waitForResponse(
    predicate: (r: RecordedRequest) => boolean,
    options?: { timeoutMs?: number; after?: number },
  ): Promise<RecordedRequest>;
  /** Answers the next `times` (default 1) requests matching `match` with `fault` instead of routing them. */
  failRequests(match: RequestMatch, fault: RestFault, options?: { times?: number }): InjectedFault;
  /** Every fault injected so far, REST and gateway. */
  readonly injectedFaults: readonly InjectedFaultRecord[];
  /** Every gateway payload received from clients, in order (heartbeats included). */
  readonly gatewayPayloads: readonly ReceivedGatewayPayload[];
  /** Resolves at the next accepted IDENTIFY, once READY and the guild have been sent. */
  waitForIdentify(): Promise<void>;
  /** Resolves at the next accepted RESUME, once the missed events and RESUMED have been sent. */
  waitForResume(): Promise<void>;
  /**
   * Closes the connected gateway sockets with `code` and returns at once (see {@link dropConnection} to also wait
   * for the client to come back). 1006 is an abnormal closure: the socket is destroyed without a close frame. The
   * session stays resumable only for the codes after which Discord lets a client resume (4000-4003, 4005, 4008,
   * 1006); 4007 (invalid seq) and 4009 (session timed out) end it, as do the fatal codes (4004, 4010-4014).
   */
  closeGateway(code: number): void;
  /** Sends op 7 Reconnect on the connected sockets: the client reconnects and resumes. */
  requestReconnect(): void;
  /**
   * Sends op 9 Invalid Session with `d = resumable` on the connected sockets. With `false` the session ends and the
   * client must IDENTIFY again; with `true` it may RESUME on the same connection.
   */
  invalidateSession(resumable: boolean): void;
  /** Stops acknowledging heartbeats (no op 11) on the connected sockets; new connections are acknowledged again. */
  stopHeartbeatAcks(): void;
  /** Closes the socket of the next IDENTIFY that carries the right token with `code` (e.g. 4004 or 4014). */
  failNextIdentify(code: number): void;
  /** The reply of an interaction (`@original`) as the double holds it, or `undefined` before a callback. */
  originalMessage(interactionToken: string): APIMessage | undefined;
  serveFile(name: string, body: Buffer | string, options?: { contentType?: string; status?: number }): string;
  close(): Promise<void>;
}

/**
 * discord.js client `ws` options for tests against the double: discord.js spaces IDENTIFYs 5 seconds apart, as
 * Discord requires, but the double has no such limit, so a scenario that ends in a new session identifies at once.
 */
export const IDENTIFY_AT_ONCE = {
  buildIdentifyThrottler: () => ({ waitForIdentify: async () => undefined }),
};

const DISCORD_EPOCH = 1420070400000n;
const READY_TIMEOUT_MS = 15_000;
/**
 * Close codes after which Discord lets the session be resumed. 4009 (session timed out) is not one: Discord asks
 * for a new session, so a RESUME after it gets op 9 with `d: false`.
 */
const RESUMABLE_CLOSE_CODES = new Set([1006, 4000, 4001, 4002, 4003, 4005, 4008]);

const EVERYONE_PERMISSIONS =
  PermissionFlagsBits.ViewChannel |
  PermissionFlagsBits.SendMessages |
  PermissionFlagsBits.ReadMessageHistory |
  PermissionFlagsBits.EmbedLinks |
  PermissionFlagsBits.AttachFiles |
  PermissionFlagsBits.AddReactions |
  PermissionFlagsBits.UseApplicationCommands;
const BOT_ROLE_PERMISSIONS =
  EVERYONE_PERMISSIONS | PermissionFlagsBits.SendMessagesInThreads | PermissionFlagsBits.UseExternalEmojis;
const DM_APP_PERMISSIONS =
  PermissionFlagsBits.ViewChannel |
  PermissionFlagsBits.SendMessages |
  PermissionFlagsBits.ReadMessageHistory |
  PermissionFlagsBits.AddReactions |
  PermissionFlagsBits.AttachFiles |
  PermissionFlagsBits.EmbedLinks |
  PermissionFlagsBits.MentionEveryone |
  PermissionFlagsBits.UseExternalEmojis;
const ALL_PERMISSIONS = Object.values(PermissionFlagsBits).reduce((all, bit) => all | bit, 0n);

interface GatewayPayload {
  op: number;
  d: unknown;
  s?: number | null;
  t?: string | null;
}

interface Session {
  id: string;
  seq: number;
  socket: WebSocket | null;
  intents: number;
  /** Dispatches of the session, replayed after a RESUME from the client's last sequence. */
  log: GatewayPayload[];
  resumable: boolean;
}

interface InteractionState {
  id: string;
  token: string;
  type: InteractionType;
  createdAt: number;
  channelId: string;
  guildId?: string;
  user: DoubleUser;
  acknowledged: boolean;
  /** For component interactions, the message the component is on. */
  componentMessageId?: string;
  originalMessageId?: string;
  metadata: Record<string, unknown>;
}

interface ServedFile {
  body: Buffer;
  contentType: string;
  status: number;
}

function decodePath(path: string): string {
  return path
    .split('/')
    .map((segment) => {
      try {
        return decodeURIComponent(segment);
      } catch {
        return segment;
      }
    })
    .join('/');
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: { message: string; code: number },
  ) {
    super(body.message);
  }
}

const unknownMessage = () => new HttpError(404, { message: 'Unknown Message', code: 10008 });
const unknownWebhook = () => new HttpError(404, { message: 'Unknown Webhook', code: 10015 });
const unknownInteraction = () => new HttpError(404, { message: 'Unknown interaction', code: 10062 });
const unknownChannel = () => new HttpError(404, { message: 'Unknown Channel', code: 10003 });
const invalidFormBody = (message: string) =>
  new HttpError(400, { message: `Invalid Form Body: ${message}`, code: 50035 });

/** Starts a Discord test double on 127.0.0.1 (random port). */
export async function startDiscordDouble(options: StartDiscordDoubleOptions = {}): Promise<DiscordDouble> {
  const token = options.token ?? 'test-token';
  const heartbeatInterval = options.heartbeatIntervalMs ?? 45_000;

  let lastSnowflake = 0n;
  const snowflake = (): string => {
    const now = (BigInt(Date.now()) - DISCORD_EPOCH) << 22n;
    lastSnowflake = now > lastSnowflake ? now : lastSnowflake + 1n;
    return lastSnowflake.toString();
  };

  const applicationId = '1300000000000000001';
  const bot: DoubleUser = { id: applicationId, username: 'Verbatim', bot: true };
  const guildId = '1300000000000000100';
  const textChannelId = '1300000000000000200';
  const adminRoleId = '1300000000000000301';
  const moderatorRoleId = '1300000000000000302';
  const botRoleId = '1300000000000000303';
  const guildOwner: DoubleUser = {
    id: '1300000000000000010',
    username: 'guild-owner',
    global_name: 'Guild Owner',
  };
  const users = {
    moderator: { id: '1300000000000000011', username: 'moderator', global_name: 'Moderator' },
    member: { id: '1300000000000000012', username: 'member', global_name: 'Member' },
    owner: { id: '1300000000000000013', username: 'owner', global_name: 'Owner' },
    roleModerator: { id: '1300000000000000014', username: 'role-moderator', global_name: 'Role Moderator' },
  } satisfies Record<string, DoubleUser>;
  const joinedAt = new Date(Date.now() - 86_400_000).toISOString();

  const roles: APIRole[] = [
    role(guildId, '@everyone', 0, EVERYONE_PERMISSIONS),
    role(moderatorRoleId, 'Moderators', 1, 0n),
    role(adminRoleId, 'Admin-ish', 2, PermissionFlagsBits.ManageGuild),
    {
      ...role(botRoleId, 'Verbatim', 3, BOT_ROLE_PERMISSIONS),
      managed: true,
      tags: { bot_id: applicationId },
    },
  ];
  const memberRoles = new Map<string, string[]>([
    [bot.id, [botRoleId]],
    [guildOwner.id, []],
    [users.moderator.id, [adminRoleId]],
    [users.member.id, []],
    [users.owner.id, []],
    [users.roleModerator.id, [moderatorRoleId]],
  ]);
  const knownUsers = new Map<string, DoubleUser>(
    [bot, guildOwner, ...Object.values(users)].map((user) => [user.id, user]),
  );

  const textChannel = {
    id: textChannelId,
    type: ChannelType.GuildText,
    guild_id: guildId,
    name: 'general',
    position: 0,
    permission_overwrites: [],
    nsfw: false,
    topic: null,
    last_message_id: null,
    rate_limit_per_user: 0,
    parent_id: null,
    flags: 0 as ChannelFlags,
  } satisfies APIChannel;

  const requests: RecordedRequest[] = [];
  type RequestWaiter = {
    predicate: (r: RecordedRequest) => boolean;
    after: number;
    resolve: (r: RecordedRequest) => void;
  };
  const waiters = new Set<RequestWaiter>();
  const responseWaiters = new Set<RequestWaiter>();
  /** The first recorded request (from index `after`) matching `predicate`, now or when it comes, or a timeout. */
  const waitIn = (
    set: Set<RequestWaiter>,
    predicate: (r: RecordedRequest) => boolean,
    waitOptions: { after?: number; timeoutMs?: number },
    what: string,
    settled: (r: RecordedRequest) => boolean = () => true,
  ): Promise<RecordedRequest> => {
    const after = waitOptions.after ?? 0;
    const timeoutMs = waitOptions.timeoutMs ?? 10_000;
    const existing = requests.slice(after).find((r) => settled(r) && predicate(r));
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve, reject) => {
      const waiter: RequestWaiter = {
        predicate,
        after,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      };
      const timer = setTimeout(() => {
        set.delete(waiter);
        const recent = requests
          .slice(-15)
          .map((r) => `  ${r.method} ${r.path}${r.response ? ` -> ${r.response.status}` : ''}`)
          .join('\n');
        reject(
          new Error(
            `Discord double: ${what} within ${timeoutMs} ms. Recent requests:\n${recent || '  (none)'}`,
          ),
        );
      }, timeoutMs);
      set.add(waiter);
    });
  };
  const restFaults: {
    match: (r: RecordedRequest) => boolean;
    fault: RestFault;
    remaining: number;
    hits: RecordedRequest[];
    exhausted: () => void;
  }[] = [];
  const injectedFaults: InjectedFaultRecord[] = [];
  const gatewayPayloads: ReceivedGatewayPayload[] = [];
  /** Sockets whose heartbeats the double no longer acknowledges. */
  const unackedSockets = new WeakSet<WebSocket>();
  /** Close codes for the next IDENTIFYs, in order. */
  const identifyFaults: number[] = [];
  const files = new Map<string, ServedFile>();
  const messages = new Map<string, APIMessage>();
  const interactions = new Map<string, InteractionState>();
  const dmChannels = new Map<string, string>();
  const dmRecipients = new Map<string, string>();
  const commandIds = new Map<string, string>();
  /** Commands registered per guild carry `data.guild_id` in their interactions. */
  const commandGuilds = new Map<string, string>();
  const registeredCommands = new Map<string, unknown[]>();
  const sessions = new Map<string, Session>();
  const events = new EventEmitter();
  let identifies = 0;
  let resumes = 0;
  let lastIntents: number | undefined;
  let readySession: Session | null = null;

  function role(id: string, name: string, position: number, permissions: bigint): APIRole {
    return {
      id,
      name,
      color: 0,
      colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
      hoist: false,
      icon: null,
      unicode_emoji: null,
      position,
      permissions: permissions.toString(),
      managed: false,
      mentionable: false,
      flags: 0 as RoleFlags,
    };
  }

  function userPayload(user: DoubleUser): APIUser {
    return {
      id: user.id,
      username: user.username,
      discriminator: '0',
      global_name: user.global_name ?? null,
      avatar: null,
      public_flags: 0 as UserFlags,
      ...(user.bot ? { bot: true } : {}),
    };
  }

  function memberPayload(user: DoubleUser): Omit<APIGuildMember, 'user'> {
    return {
      nick: null,
      avatar: null,
      banner: null,
      roles: memberRoles.get(user.id) ?? [],
      joined_at: joinedAt,
      premium_since: null,
      deaf: false,
      mute: false,
      flags: 0 as GuildMemberFlags,
      pending: false,
      communication_disabled_until: null,
    };
  }

  function permissionsOf(user: DoubleUser): bigint {
    if (user.id === guildOwner.id) return ALL_PERMISSIONS;
    const ids = new Set([guildId, ...(memberRoles.get(user.id) ?? [])]);
    const total = roles.filter((r) => ids.has(r.id)).reduce((all, r) => all | BigInt(r.permissions), 0n);
    return total & PermissionFlagsBits.Administrator ? ALL_PERMISSIONS : total;
  }

  function dmChannelId(user: DoubleUser): string {
    let id = dmChannels.get(user.id);
    if (!id) {
      id = snowflake();
      dmChannels.set(user.id, id);
      dmRecipients.set(id, user.id);
      knownUsers.set(user.id, user);
    }
    return id;
  }

  function dmChannelPayload(user: DoubleUser) {
    return {
      id: dmChannelId(user),
      type: ChannelType.DM,
      last_message_id: null,
      flags: 0,
      recipients: [userPayload(user)],
    };
  }

  function channelExists(id: string): boolean {
    return id === textChannelId || dmRecipients.has(id);
  }

  function guildCreatePayload() {
    const members = [...memberRoles.keys()].map((id) => {
      const user = knownUsers.get(id)!;
      return { ...memberPayload(user), user: userPayload(user) };
    });
    return {
      id: guildId,
      name: 'Verbatim Test Guild',
      icon: null,
      splash: null,
      discovery_splash: null,
      banner: null,
      description: null,
      owner_id: guildOwner.id,
      afk_channel_id: null,
      afk_timeout: 300,
      verification_level: 0,
      default_message_notifications: 0,
      explicit_content_filter: 0,
      mfa_level: 0,
      nsfw_level: 0,
      premium_tier: 0,
      premium_subscription_count: 0,
      premium_progress_bar_enabled: false,
      preferred_locale: 'en-US',
      features: [],
      application_id: null,
      system_channel_id: null,
      system_channel_flags: 0,
      rules_channel_id: null,
      public_updates_channel_id: null,
      safety_alerts_channel_id: null,
      vanity_url_code: null,
      max_members: 500000,
      max_video_channel_users: 25,
      max_stage_video_channel_users: 50,
      roles,
      emojis: [],
      stickers: [],
      joined_at: joinedAt,
      large: false,
      unavailable: false,
      member_count: members.length,
      voice_states: [],
      members,
      channels: [textChannel],
      threads: [],
      presences: [],
      stage_instances: [],
      guild_scheduled_events: [],
      soundboard_sounds: [],
    };
  }

  // ---------------------------------------------------------------- messages

  function baseMessage(channelId: string, author: DoubleUser): APIMessage {
    const message = {
      id: snowflake(),
      channel_id: channelId,
      author: userPayload(author),
      content: '',
      timestamp: new Date().toISOString(),
      edited_timestamp: null,
      tts: false,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      attachments: [],
      embeds: [],
      pinned: false,
      type: MessageType.Default,
      flags: 0 as MessageFlags,
      components: [],
    } satisfies APIMessage;
    return channelId === textChannelId
      ? ({ ...message, guild_id: guildId } as unknown as APIMessage)
      : message;
  }

  /** Applies a create/edit body (and its uploaded files) to a message the way Discord does. */
  function applyBody(message: APIMessage, body: any, uploaded: RecordedRequest['files']): APIMessage {
    const next: any = { ...message };
    if (!body || typeof body !== 'object') body = {};
    if (typeof body.content === 'string') next.content = body.content;
    if (body.content === null) next.content = '';
    if (Array.isArray(body.embeds)) {
      next.embeds = body.embeds.map((embed: object) => ({ type: 'rich', ...embed }));
    }
    if (Array.isArray(body.components)) next.components = body.components;
    if (typeof body.flags === 'number') {
      next.flags =
        (message.flags ?? 0) & MessageFlags.Ephemeral ? body.flags | MessageFlags.Ephemeral : body.flags;
    }
    if (typeof body.tts === 'boolean') next.tts = body.tts;
    if (body.message_reference?.message_id) {
      const referenced = messages.get(body.message_reference.message_id);
      next.type = MessageType.Reply;
      next.message_reference = {
        type: 0,
        message_id: body.message_reference.message_id,
        channel_id: body.message_reference.channel_id ?? message.channel_id,
        ...('guild_id' in message && message.guild_id ? { guild_id: message.guild_id } : {}),
      };
      next.referenced_message = referenced ?? null;
    }
    if (Array.isArray(body.attachments) || uploaded.length > 0) {
      const described: any[] = Array.isArray(body.attachments) ? body.attachments : [];
      const kept = (message.attachments ?? []).filter((a) => described.some((d) => String(d.id) === a.id));
      const added = uploaded.map((file, index) => {
        const description = described.find((d) => String(d.id) === String(index));
        const id = snowflake();
        const filename = description?.filename ?? file.name;
        const url = serveFile(`attachments/${id}/${filename}`, file.data, {
          contentType: file.contentType ?? 'application/octet-stream',
        });
        return {
          id,
          filename,
          size: file.data.length,
          url,
          proxy_url: url,
          ...(file.contentType ? { content_type: file.contentType } : {}),
          ...(description?.description ? { description: description.description } : {}),
        };
      });
      next.attachments = [...kept, ...added];
    }
    return next as APIMessage;
  }

  function storeMessage(message: APIMessage): APIMessage {
    messages.set(message.id, message);
    return message;
  }

  // ---------------------------------------------------------------- HTTP

  function recordRequest(request: RecordedRequest): void {
    requests.push(request);
    const index = requests.length - 1;
    for (const waiter of [...waiters]) {
      if (index >= waiter.after && waiter.predicate(request)) {
        waiters.delete(waiter);
        waiter.resolve(request);
      }
    }
  }

  function requireAuth(request: RecordedRequest): void {
    if (request.headers.authorization !== `Bot ${token}`) {
      throw new HttpError(401, { message: '401: Unauthorized', code: 0 });
    }
  }

  function interactionByToken(appId: string, interactionToken: string): InteractionState {
    const state = interactions.get(interactionToken);
    if (appId !== applicationId || !state) throw unknownWebhook();
    return state;
  }

  function originalMessage(state: InteractionState, messageId: string): APIMessage {
    const id = messageId === '@original' ? state.originalMessageId : messageId;
    const message = id ? messages.get(id) : undefined;
    if (!message) throw unknownMessage();
    return message;
  }

  function interactionMessage(
    state: InteractionState,
    body: any,
    files: RecordedRequest['files'],
  ): APIMessage {
    const type =
      state.type === InteractionType.ApplicationCommand ? MessageType.ChatInputCommand : MessageType.Default;
    const message = {
      ...baseMessage(state.channelId, bot),
      type,
      webhook_id: applicationId,
      application_id: applicationId,
      interaction_metadata: state.metadata,
    } as unknown as APIMessage;
    return applyBody(message, body, files);
  }

  function handleCallback(request: RecordedRequest, interactionId: string, interactionToken: string) {
    const state = interactions.get(interactionToken);
    if (!state || state.id !== interactionId) throw unknownInteraction();
    if (
      options.interactionDeadlineMs !== undefined &&
      request.at - state.createdAt > options.interactionDeadlineMs
    ) {
      throw unknownInteraction();
    }
    if (state.acknowledged) {
      throw new HttpError(400, { message: 'Interaction has already been acknowledged.', code: 40060 });
    }
    const body = request.body ?? {};
    const type = body.type as InteractionResponseType;
    const isAutocomplete = state.type === InteractionType.ApplicationCommandAutocomplete;
    const isComponent = state.type === InteractionType.MessageComponent;
    if (isAutocomplete !== (type === InteractionResponseType.ApplicationCommandAutocompleteResult)) {
      throw invalidFormBody(`callback type ${type} does not fit interaction type ${state.type}`);
    }
    if (
      !isComponent &&
      (type === InteractionResponseType.DeferredMessageUpdate ||
        type === InteractionResponseType.UpdateMessage)
    ) {
      throw invalidFormBody(`callback type ${type} is only for component interactions`);
    }
    let resourceMessage: APIMessage | undefined;
    switch (type) {
      case InteractionResponseType.ChannelMessageWithSource:
        resourceMessage = storeMessage(interactionMessage(state, body.data, request.files));
        state.originalMessageId = resourceMessage.id;
        break;
      case InteractionResponseType.DeferredChannelMessageWithSource: {
        const flags = ((body.data?.flags ?? 0) & MessageFlags.Ephemeral) | MessageFlags.Loading;
        resourceMessage = storeMessage(interactionMessage(state, { flags }, []));
        state.originalMessageId = resourceMessage.id;
        break;
      }
      case InteractionResponseType.DeferredMessageUpdate:
        state.originalMessageId = state.componentMessageId;
        resourceMessage = state.componentMessageId ? messages.get(state.componentMessageId) : undefined;
        break;
      case InteractionResponseType.UpdateMessage: {
        state.originalMessageId = state.componentMessageId;
        const current = state.componentMessageId ? messages.get(state.componentMessageId) : undefined;
        if (current) resourceMessage = storeMessage(applyBody(current, body.data, request.files));
        break;
      }
      case InteractionResponseType.ApplicationCommandAutocompleteResult:
      case InteractionResponseType.Modal:
      case InteractionResponseType.LaunchActivity:
        break;
      default:
        throw invalidFormBody(`unknown callback type ${String(type)}`);
    }
    state.acknowledged = true;
    if (request.query.with_response !== 'true') return { status: 204 };
    const createsMessage = type !== InteractionResponseType.ApplicationCommandAutocompleteResult;
    return {
      status: 200,
      json: {
        interaction: {
          id: state.id,
          type: state.type,
          ...(resourceMessage
            ? {
                response_message_id: resourceMessage.id,
                response_message_loading: Boolean((resourceMessage.flags ?? 0) & MessageFlags.Loading),
                response_message_ephemeral: Boolean((resourceMessage.flags ?? 0) & MessageFlags.Ephemeral),
              }
            : {}),
        },
        ...(createsMessage && type !== InteractionResponseType.Modal
          ? { resource: { type, ...(resourceMessage ? { message: resourceMessage } : {}) } }
          : {}),
      },
    };
  }

  type Answer = { status: number; json?: unknown; headers?: Record<string, string> };

  function route(request: RecordedRequest): Answer {
    const { method, path } = request;
    const parts = path.split('/').slice(1);
    const is = (pattern: string) => {
      const expected = pattern.split('/').slice(1);
      return expected.length === parts.length && expected.every((p, i) => p === '*' || p === parts[i]);
    };

    // Interaction and webhook routes carry no Authorization header.
    if (method === 'POST' && is('/interactions/*/*/callback')) {
      return handleCallback(request, parts[1]!, parts[2]!);
    }
    if (parts[0] === 'webhooks') {
      const state = interactionByToken(parts[1] ?? '', parts[2] ?? '');
      if (method === 'POST' && parts.length === 3) {
        if (!state.acknowledged) throw unknownWebhook();
        const original = state.originalMessageId ? messages.get(state.originalMessageId) : undefined;
        const originalFlags = original?.flags ?? 0;
        if (original && originalFlags & MessageFlags.Loading) {
          // Discord takes the first follow-up after a deferral as the deferred reply itself: it replaces the
          // "thinking…" message and keeps the deferral's ephemeral flag, whatever the follow-up asks for.
          const body = request.body ?? {};
          const asked = typeof body.flags === 'number' ? body.flags : 0;
          const resolved = applyBody(original, { ...body, flags: 0 }, request.files);
          resolved.flags = ((originalFlags & MessageFlags.Ephemeral) |
            (asked & ~MessageFlags.Ephemeral & ~MessageFlags.Loading)) as MessageFlags;
          return { status: 200, json: storeMessage(resolved) };
        }
        const message = storeMessage(interactionMessage(state, request.body, request.files));
        return { status: 200, json: message };
      }
      if (parts.length === 5 && parts[3] === 'messages') {
        const current = originalMessage(state, parts[4]!);
        if (method === 'GET') return { status: 200, json: current };
        if (method === 'DELETE') {
          messages.delete(current.id);
          return { status: 204 };
        }
        if (method === 'PATCH') {
          const edited = applyBody(current, request.body, request.files);
          edited.flags = (edited.flags ?? 0) & ~MessageFlags.Loading;
          edited.edited_timestamp = new Date().toISOString();
          return { status: 200, json: storeMessage(edited) };
        }
      }
      throw new HttpError(405, { message: '405: Method Not Allowed', code: 0 });
    }

    if (method === 'GET' && is('/gateway')) return { status: 200, json: { url: wsUrl } };
    requireAuth(request);

    if (method === 'GET' && is('/gateway/bot')) {
      return {
        status: 200,
        json: {
          url: wsUrl,
          shards: 1,
          session_start_limit: { total: 1000, remaining: 999, reset_after: 86_400_000, max_concurrency: 1 },
        },
      };
    }
    if (method === 'GET' && is('/users/@me')) return { status: 200, json: userPayload(bot) };
    if (method === 'GET' && is('/users/*')) {
      const user = knownUsers.get(parts[1]!);
      if (!user) throw new HttpError(404, { message: 'Unknown User', code: 10013 });
      return { status: 200, json: userPayload(user) };
    }
    if (method === 'GET' && is('/applications/@me')) {
      return {
        status: 200,
        json: {
          id: applicationId,
          name: bot.username,
          icon: null,
          description: '',
          bot_public: false,
          bot_require_code_grant: false,
          verify_key: '0'.repeat(64),
          flags: 0,
          bot: userPayload(bot),
          owner: userPayload(guildOwner),
          team: null,
        },
      };
    }
    if (
      (method === 'PUT' || method === 'GET') &&
      (is('/applications/*/commands') || is('/applications/*/guilds/*/commands'))
    ) {
      if (parts[1] !== applicationId) throw new HttpError(403, { message: 'Missing Access', code: 50001 });
      const scopeGuild = parts.length === 5 ? parts[3]! : undefined;
      if (scopeGuild !== undefined && scopeGuild !== guildId) {
        throw new HttpError(403, { message: 'Missing Access', code: 50001 });
      }
      const key = scopeGuild ?? 'global';
      if (method === 'GET') return { status: 200, json: registeredCommands.get(key) ?? [] };
      if (!Array.isArray(request.body)) throw invalidFormBody('expected an array of commands');
      const registered = request.body.map((command: any) => {
        const id = commandIds.get(command.name) ?? snowflake();
        commandIds.set(command.name, id);
        if (scopeGuild) commandGuilds.set(command.name, scopeGuild);
        else commandGuilds.delete(command.name);
        return {
          id,
          application_id: applicationId,
          version: snowflake(),
          type: ApplicationCommandType.ChatInput,
          description: '',
          default_member_permissions: null,
          nsfw: false,
          ...(scopeGuild ? { guild_id: scopeGuild } : {}),
          ...command,
        };
      });
      registeredCommands.set(key, registered);
      return { status: 200, json: registered };
    }
    if (method === 'POST' && is('/users/@me/channels')) {
      const recipient = knownUsers.get(request.body?.recipient_id);
      if (!recipient) throw invalidFormBody('recipient_id is not a known user');
      return { status: 200, json: dmChannelPayload(recipient) };
    }
    if (method === 'GET' && is('/channels/*')) {
      const id = parts[1]!;
      if (id === textChannelId) return { status: 200, json: textChannel };
      const recipient = knownUsers.get(dmRecipients.get(id) ?? '');
      if (!recipient) throw unknownChannel();
      return { status: 200, json: dmChannelPayload(recipient) };
    }
    if (method === 'POST' && is('/channels/*/typing')) {
      if (!channelExists(parts[1]!)) throw unknownChannel();
      return { status: 204 };
    }
    if (method === 'POST' && is('/channels/*/messages')) {
      if (!channelExists(parts[1]!)) throw unknownChannel();
      const body = request.body ?? {};
      const empty =
        !body.content &&
        !(body.embeds?.length > 0) &&
        !(body.components?.length > 0) &&
        request.files.length === 0;
      if (empty) throw new HttpError(400, { message: 'Cannot send an empty message', code: 50006 });
      const message = applyBody(baseMessage(parts[1]!, bot), body, request.files);
      if (body.nonce !== undefined) (message as any).nonce = body.nonce;
      return { status: 200, json: storeMessage(message) };
    }
    if (is('/channels/*/messages/*')) {
      const message = messages.get(parts[3]!);
      if (!message || message.channel_id !== parts[1]) throw unknownMessage();
      if (method === 'GET') return { status: 200, json: message };
      if (method === 'DELETE') {
        messages.delete(message.id);
        return { status: 204 };
      }
      if (method === 'PATCH') {
        const edited = applyBody(message, request.body, request.files);
        edited.edited_timestamp = new Date().toISOString();
        return { status: 200, json: storeMessage(edited) };
      }
    }
    if (method === 'GET' && is('/guilds/*/members/*')) {
      const user = parts[1] === guildId ? knownUsers.get(parts[3]!) : undefined;
      if (!user || !memberRoles.has(user.id))
        throw new HttpError(404, { message: 'Unknown Member', code: 10007 });
      return { status: 200, json: { ...memberPayload(user), user: userPayload(user) } };
    }
    if (method === 'GET' && is('/guilds/*')) {
      if (parts[1] !== guildId) throw new HttpError(404, { message: 'Unknown Guild', code: 10004 });
      const {
        members: _m,
        channels: _c,
        threads: _t,
        presences: _p,
        voice_states: _v,
        ...guild
      } = guildCreatePayload();
      return { status: 200, json: guild };
    }
    return { status: 404, json: { message: 'Unknown route', code: 0 } };
  }

  async function readBody(req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async function parseBody(
    raw: Buffer,
    contentType: string | undefined,
  ): Promise<{ body: unknown; files: RecordedRequest['files'] }> {
    if (raw.length === 0) return { body: undefined, files: [] };
    if (contentType?.startsWith('multipart/form-data')) {
      const form = await new Response(raw, { headers: { 'content-type': contentType } }).formData();
      let body: unknown;
      const parsedFiles: RecordedRequest['files'] = [];
      for (const [field, value] of form.entries()) {
        if (typeof value === 'string') {
          if (field === 'payload_json') body = JSON.parse(value);
        } else {
          parsedFiles.push({
            name: value.name,
            field,
            ...(value.type ? { contentType: value.type } : {}),
            data: Buffer.from(await value.arrayBuffer()),
          });
        }
      }
      return { body, files: parsedFiles };
    }
    const text = raw.toString('utf8');
    try {
      return { body: JSON.parse(text), files: [] };
    } catch {
      return { body: text, files: [] };
    }
  }

  function send(res: ServerResponse, request: RecordedRequest, answer: Answer): void {
    request.response = { status: answer.status, body: answer.json };
    if (answer.status === 204 || answer.json === undefined) {
      // No content-type on an empty answer: @discordjs/rest would try to parse it as JSON.
      res.writeHead(answer.status, answer.headers ?? {});
      res.end();
    } else {
      const payload = JSON.stringify(answer.json);
      res.writeHead(answer.status, {
        ...answer.headers,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(payload),
      });
      res.end(payload);
    }
    notifyAnswered(request);
  }

  function notifyAnswered(request: RecordedRequest): void {
    const index = requests.indexOf(request);
    for (const waiter of [...responseWaiters]) {
      if (index >= waiter.after && waiter.predicate(request)) {
        responseWaiters.delete(waiter);
        waiter.resolve(request);
      }
    }
  }

  function requestMatcher(match: RequestMatch): (r: RecordedRequest) => boolean {
    if (typeof match === 'function') return match;
    const [method, pattern] = match.trim().split(/\s+/, 2);
    if (!method || !pattern)
      throw new Error(`Discord double: a request match is 'METHOD /path', got '${match}'`);
    const expected = pattern.split('/');
    return (r) => {
      const actual = r.path.split('/');
      return (
        r.method === method.toUpperCase() &&
        actual.length === expected.length &&
        expected.every((segment, i) => segment === '*' || segment === actual[i])
      );
    };
  }

  /** The answer of an armed fault for `request`, if one matches; consumes one of its uses. */
  function takeRestFault(request: RecordedRequest): RestFault | undefined {
    const armed = restFaults.find((f) => f.remaining > 0 && f.match(request));
    if (!armed) return undefined;
    armed.remaining -= 1;
    armed.hits.push(request);
    if (armed.remaining === 0) armed.exhausted();
    const kind = 'reset' in armed.fault ? 'reset' : String(armed.fault.status);
    request.fault = kind;
    injectedFaults.push({
      kind: `rest ${kind}`,
      target: `${request.method} ${request.path}`,
      at: Date.now(),
    });
    return armed.fault;
  }

  function faultAnswer(fault: Exclude<RestFault, { reset: true }>): Answer {
    if (fault.status !== 429) {
      const body = 'body' in fault && fault.body !== undefined ? fault.body : undefined;
      return {
        status: fault.status,
        json: body ?? { message: `${fault.status}: Injected server error`, code: 0 },
      };
    }
    const limit = fault as Extract<RestFault, { status: 429 }>;
    const retryAfter = limit.retryAfter ?? 0.05;
    const global = limit.global === true;
    const headers: Record<string, string> = global
      ? { 'retry-after': String(retryAfter), 'x-ratelimit-global': 'true', 'x-ratelimit-scope': 'global' }
      : {
          'retry-after': String(retryAfter),
          'x-ratelimit-limit': '5',
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': (Date.now() / 1000 + retryAfter).toFixed(3),
          'x-ratelimit-reset-after': String(retryAfter),
          'x-ratelimit-bucket': randomBytes(8).toString('hex'),
          'x-ratelimit-scope': limit.scope ?? 'user',
        };
    return {
      status: 429,
      headers,
      json: { message: 'You are being rate limited.', retry_after: retryAfter, global },
    };
  }

  async function handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', origin);
    const raw = await readBody(req);
    const headers: Record<string, string | undefined> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    let parsed: { body: unknown; files: RecordedRequest['files'] };
    try {
      parsed = await parseBody(raw, headers['content-type']);
    } catch {
      parsed = { body: raw.toString('utf8'), files: [] };
    }
    const apiMatch = /^\/api(?:\/v\d+)?(\/.*)$/.exec(url.pathname);
    const request: RecordedRequest = {
      method: req.method ?? 'GET',
      // Decoded, so that tests match `/messages/@original` (discord.js sends `%40original`).
      path: decodePath(apiMatch ? apiMatch[1]! : url.pathname),
      query: Object.fromEntries(url.searchParams),
      headers,
      body: parsed.body,
      files: parsed.files,
      at: Date.now(),
    };
    recordRequest(request);

    if (!apiMatch) {
      const file = request.path.startsWith('/files/')
        ? files.get(request.path.slice('/files/'.length))
        : undefined;
      request.response = { status: file?.status ?? 404, body: undefined };
      if (!file) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('Not Found');
      } else {
        res.writeHead(file.status, { 'content-type': file.contentType, 'content-length': file.body.length });
        res.end(req.method === 'HEAD' ? undefined : file.body);
      }
      notifyAnswered(request);
      return;
    }

    const fault = takeRestFault(request);
    if (fault && 'reset' in fault) {
      request.response = { status: 0, body: undefined };
      notifyAnswered(request);
      req.socket.destroy();
      return;
    }
    if (fault) {
      send(res, request, faultAnswer(fault));
      return;
    }
    let answer: Answer;
    try {
      answer = route(request);
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      answer = { status: error.status, json: error.body };
    }
    send(res, request, answer);
  }

  function serveFile(
    name: string,
    body: Buffer | string,
    fileOptions: { contentType?: string; status?: number } = {},
  ): string {
    files.set(name, {
      body: typeof body === 'string' ? Buffer.from(body, 'utf8') : body,
      contentType: fileOptions.contentType ?? 'application/octet-stream',
      status: fileOptions.status ?? 200,
    });
    return `${origin}/files/${name.split('/').map(encodeURIComponent).join('/')}`;
  }

  // ---------------------------------------------------------------- gateway

  function sendPayload(socket: WebSocket, payload: GatewayPayload): void {
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(payload));
  }

  function dispatchTo(session: Session, t: string, d: unknown): void {
    session.seq += 1;
    const payload: GatewayPayload = { op: GatewayOpcodes.Dispatch, t, s: session.seq, d };
    session.log.push(payload);
    if (session.log.length > 1000) session.log.shift();
    if (session.socket) sendPayload(session.socket, payload);
  }

  function liveSessions(): Session[] {
    return [...sessions.values()].filter((s) => s.resumable);
  }

  /** Sessions with an open socket; throws when there is none, saying what the test tried to do. */
  function connectedSessions(what: string): Session[] {
    const connected = [...sessions.values()].filter(
      (s) => s.socket !== null && s.socket.readyState === s.socket.OPEN,
    );
    if (connected.length === 0) throw new Error(`Discord double: no connected gateway session to ${what}`);
    return connected;
  }

  function closeGateway(code: number): void {
    for (const session of connectedSessions(`close with ${code}`)) {
      if (!RESUMABLE_CLOSE_CODES.has(code)) session.resumable = false;
      injectedFaults.push({ kind: `gateway close ${code}`, target: 'gateway', at: Date.now() });
      // 1006 cannot be sent in a close frame: it is what a client sees when the connection just dies.
      if (code === 1006) session.socket!.terminate();
      else session.socket!.close(code, 'Closed by the test double');
    }
  }

  function dispatch(t: string, d: unknown): void {
    const targets = liveSessions();
    if (targets.length === 0)
      throw new Error(`No gateway session to dispatch ${t} to: await waitForReady() first`);
    for (const session of targets) dispatchTo(session, t, d);
  }

  function onGatewayMessage(socket: WebSocket, data: string, bound: { session: Session | null }): void {
    let payload: GatewayPayload;
    try {
      payload = JSON.parse(data) as GatewayPayload;
    } catch {
      socket.close(4002, 'Error while decoding payload.');
      return;
    }
    const d = payload.d as any;
    const received: ReceivedGatewayPayload = { op: payload.op, at: Date.now() };
    gatewayPayloads.push(received);
    switch (payload.op) {
      case GatewayOpcodes.Heartbeat:
        if (!unackedSockets.has(socket)) sendPayload(socket, { op: GatewayOpcodes.HeartbeatAck, d: null });
        return;
      case GatewayOpcodes.Identify: {
        if (bound.session) {
          socket.close(4005, 'Already authenticated.');
          return;
        }
        if (d?.token !== token) {
          socket.close(4004, 'Authentication failed.');
          return;
        }
        const failure = identifyFaults.shift();
        if (failure !== undefined) {
          injectedFaults.push({ kind: `identify closed ${failure}`, target: 'gateway', at: Date.now() });
          socket.close(failure, 'Closed by the test double');
          return;
        }
        identifies += 1;
        lastIntents = Number(d.intents ?? 0);
        const session: Session = {
          id: randomBytes(16).toString('hex'),
          seq: 0,
          socket,
          intents: lastIntents,
          log: [],
          resumable: true,
        };
        sessions.set(session.id, session);
        bound.session = session;
        dispatchTo(session, GatewayDispatchEvents.Ready, {
          v: 10,
          user: { ...userPayload(bot), verified: true, mfa_enabled: false, flags: 0 },
          guilds: [{ id: guildId, unavailable: true }],
          session_id: session.id,
          session_type: 'normal',
          resume_gateway_url: wsUrl,
          application: { id: applicationId, flags: 0 },
          private_channels: [],
          relationships: [],
          presences: [],
          guild_join_requests: [],
          user_settings: {},
          geo_ordered_rtc_regions: [],
          auth_session_id_hash: '',
          ...(Array.isArray(d.shard) ? { shard: d.shard } : {}),
        });
        dispatchTo(session, GatewayDispatchEvents.GuildCreate, guildCreatePayload());
        readySession = session;
        events.emit('ready');
        return;
      }
      case GatewayOpcodes.Resume: {
        const session = sessions.get(d?.session_id);
        if (d?.token !== token) {
          socket.close(4004, 'Authentication failed.');
          return;
        }
        if (!session || !session.resumable) {
          received.accepted = false;
          sendPayload(socket, { op: GatewayOpcodes.InvalidSession, d: false });
          return;
        }
        received.accepted = true;
        resumes += 1;
        // After op 9 with d: true the client resumes on the same connection.
        if (session.socket && session.socket !== socket) session.socket.terminate();
        session.socket = socket;
        bound.session = session;
        const from = Number(d.seq ?? 0);
        for (const missed of session.log.filter((p) => (p.s ?? 0) > from)) sendPayload(socket, missed);
        dispatchTo(session, GatewayDispatchEvents.Resumed, null);
        readySession = session;
        events.emit('resumed');
        return;
      }
      case GatewayOpcodes.RequestGuildMembers: {
        const session = bound.session;
        if (!session) {
          socket.close(4003, 'Not authenticated.');
          return;
        }
        const ids: string[] | undefined = d?.user_ids ? [d.user_ids].flat() : undefined;
        const query = typeof d?.query === 'string' ? d.query.toLowerCase() : '';
        const found = [...memberRoles.keys()]
          .map((id) => knownUsers.get(id)!)
          .filter((u) => (ids ? ids.includes(u.id) : u.username.toLowerCase().startsWith(query)));
        dispatchTo(session, GatewayDispatchEvents.GuildMembersChunk, {
          guild_id: guildId,
          members: found.map((u) => ({ ...memberPayload(u), user: userPayload(u) })),
          chunk_index: 0,
          chunk_count: 1,
          not_found: ids ? ids.filter((id) => !found.some((u) => u.id === id)) : [],
          ...(d?.nonce ? { nonce: d.nonce } : {}),
        });
        return;
      }
      default:
        if (!bound.session) socket.close(4003, 'Not authenticated.');
    }
  }

  // ---------------------------------------------------------------- interactions and messages

  function newInteraction(
    type: InteractionType,
    input: { user?: DoubleUser; locale?: string; dm?: boolean; channelId?: string },
    extra: Record<string, unknown>,
    componentMessageId?: string,
  ): { id: string; token: string } {
    const user = input.user ?? users.member;
    knownUsers.set(user.id, user);
    const id = snowflake();
    const interactionToken = Buffer.from(`interaction:${id}:${randomBytes(24).toString('hex')}`).toString(
      'base64url',
    );
    const dm = input.dm === true;
    const channelId = dm ? dmChannelId(user) : (input.channelId ?? textChannelId);
    const owners = { '0': dm ? '0' : guildId };
    const where = dm
      ? {
          channel: dmChannelPayload(user),
          channel_id: channelId,
          user: userPayload(user),
          app_permissions: DM_APP_PERMISSIONS.toString(),
          context: InteractionContextType.BotDM,
        }
      : {
          guild_id: guildId,
          guild: { id: guildId, locale: 'en-US', features: [] },
          guild_locale: 'en-US',
          channel: { ...textChannel, id: channelId },
          channel_id: channelId,
          member: {
            ...memberPayload(user),
            user: userPayload(user),
            permissions: permissionsOf(user).toString(),
          },
          app_permissions: permissionsOf(bot).toString(),
          context: InteractionContextType.Guild,
        };
    interactions.set(interactionToken, {
      id,
      token: interactionToken,
      type,
      createdAt: Date.now(),
      channelId,
      ...(dm ? {} : { guildId }),
      user,
      acknowledged: false,
      ...(componentMessageId ? { componentMessageId } : {}),
      metadata: {
        id,
        type,
        user: userPayload(user),
        authorizing_integration_owners: owners,
        ...(componentMessageId ? { interacted_message_id: componentMessageId } : {}),
      },
    });
    dispatch(GatewayDispatchEvents.InteractionCreate, {
      id,
      application_id: applicationId,
      type,
      token: interactionToken,
      version: 1,
      locale: input.locale ?? 'en-US',
      entitlements: [],
      authorizing_integration_owners: owners,
      attachment_size_limit: 10_485_760,
      ...where,
      ...extra,
    });
    return { id, token: interactionToken };
  }

  function commandData(name: string, commandId: string | undefined, options: unknown[] | undefined) {
    const guildScoped = commandGuilds.get(name);
    return {
      id: commandId ?? commandIds.get(name) ?? stableCommandId(name),
      name,
      type: ApplicationCommandType.ChatInput,
      ...(guildScoped ? { guild_id: guildScoped } : {}),
      ...(options && options.length > 0 ? { options } : {}),
    };
  }

  function stableCommandId(name: string): string {
    const id = snowflake();
    commandIds.set(name, id);
    return id;
  }

  /** Resolved users/members for user options whose value is a known user. */
  function resolvedUsers(options: unknown[] | undefined, dm: boolean) {
    const found = new Map<string, DoubleUser>();
    const walk = (list: unknown[] | undefined) => {
      for (const option of list ?? []) {
        const o = option as { type?: number; value?: unknown; options?: unknown[] };
        if (o.type === ApplicationCommandOptionType.User && typeof o.value === 'string') {
          const user = knownUsers.get(o.value);
          if (user) found.set(user.id, user);
        }
        walk(o.options);
      }
    };
    walk(options);
    if (found.size === 0) return {};
    const list = [...found.values()];
    return {
      users: Object.fromEntries(list.map((u) => [u.id, userPayload(u)])),
      ...(dm
        ? {}
        : {
            members: Object.fromEntries(
              list
                .filter((u) => memberRoles.has(u.id))
                .map((u) => [u.id, { ...memberPayload(u), permissions: permissionsOf(u).toString() }]),
            ),
          }),
    };
  }

  function sendCommand(input: SendCommandInput): { id: string; token: string } {
    const attachments = (input.attachments ?? []).map((a) => ({
      id: a.id ?? snowflake(),
      filename: a.filename,
      size: a.size ?? 0,
      url: a.url,
      proxy_url: a.url,
      ...(a.contentType ? { content_type: a.contentType } : {}),
      ephemeral: true,
    }));
    const resolved = {
      ...resolvedUsers(input.options, input.dm === true),
      ...(attachments.length > 0
        ? { attachments: Object.fromEntries(attachments.map((a) => [a.id, a])) }
        : {}),
    };
    return newInteraction(InteractionType.ApplicationCommand, input, {
      data: {
        ...commandData(input.name, input.commandId, input.options),
        ...(Object.keys(resolved).length > 0 ? { resolved } : {}),
      },
    });
  }

  function sendAutocomplete(input: SendAutocompleteInput): { id: string; token: string } {
    const options = structuredClone(input.options) as any[];
    const leaves: any[] = [];
    const walk = (list: any[]) => {
      for (const o of list) {
        if (Array.isArray(o.options)) walk(o.options);
        else leaves.push(o);
      }
    };
    walk(options);
    if (!leaves.some((o) => o.focused === true) && leaves.length > 0)
      leaves[leaves.length - 1].focused = true;
    return newInteraction(InteractionType.ApplicationCommandAutocomplete, input, {
      data: commandData(input.name, undefined, options),
    });
  }

  function clickButton(input: ClickButtonInput): { id: string; token: string } {
    const user = input.user ?? users.member;
    const channelId = input.dm ? dmChannelId(user) : textChannelId;
    const message = storeMessage({
      ...baseMessage(channelId, bot),
      ...(messages.get(input.message?.id ?? '') ?? {}),
      ...input.message,
    } as APIMessage);
    return newInteraction(
      InteractionType.MessageComponent,
      { ...input, user },
      { data: { custom_id: input.customId, component_type: ComponentType.Button }, message },
      message.id,
    );
  }

  function sendMessage(input: SendMessageInput): APIMessage {
    const author = input.author ?? users.member;
    knownUsers.set(author.id, author);
    const dm = input.dm === true;
    const channelId = dm ? dmChannelId(author) : textChannelId;
    const mentioned = [...(input.mentionBot ? [bot] : []), ...(input.mentions ?? [])];
    const message = {
      ...baseMessage(channelId, author),
      content: input.mentionBot ? `<@${bot.id}> ${input.content}` : input.content,
      mention_everyone: input.mentionEveryone === true,
      mentions: mentioned.map((u) => ({
        ...userPayload(u),
        ...(!dm && memberRoles.has(u.id) ? { member: memberPayload(u) } : {}),
      })),
    } as APIMessage;
    storeMessage(message);
    const event = {
      ...message,
      ...(dm ? { channel_type: ChannelType.DM } : { channel_type: ChannelType.GuildText }),
      ...(!dm && memberRoles.has(author.id) ? { member: memberPayload(author) } : {}),
    };
    const targets = liveSessions();
    if (targets.length === 0)
      throw new Error('No gateway session to send MESSAGE_CREATE to: await waitForReady() first');
    for (const session of targets) {
      const needed = dm ? GatewayIntentBits.DirectMessages : GatewayIntentBits.GuildMessages;
      if ((session.intents & needed) === 0) continue;
      const seesContent =
        dm ||
        (session.intents & GatewayIntentBits.MessageContent) !== 0 ||
        mentioned.some((u) => u.id === bot.id) ||
        author.id === bot.id;
      const delivered = seesContent
        ? event
        : { ...event, content: '', embeds: [], attachments: [], components: [] };
      dispatchTo(session, GatewayDispatchEvents.MessageCreate, delivered);
    }
    return message;
  }

  // ---------------------------------------------------------------- server

  const server = createServer((req, res) => {
    handleHttp(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: `Test double failed: ${String(error)}`, code: 0 }));
    });
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (socket, req) => {
    const version = new URL(req.url ?? '/', 'ws://127.0.0.1').searchParams.get('v');
    if (version && version !== '10') {
      socket.close(4012, 'Invalid API version.');
      return;
    }
    const bound: { session: Session | null } = { session: null };
    socket.on('message', (data) => onGatewayMessage(socket, data.toString(), bound));
    socket.on('close', (code) => {
      const session = bound.session;
      if (!session || session.socket !== socket) return;
      session.socket = null;
      if (code === 1000 || code === 1001) session.resumable = false;
      if (readySession === session) readySession = null;
    });
    sendPayload(socket, { op: GatewayOpcodes.Hello, d: { heartbeat_interval: heartbeatInterval } });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  const wsUrl = `ws://127.0.0.1:${port}`;

  function nextOf(names: string[], what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        for (const name of names) events.off(name, done);
        resolve();
      };
      const timer = setTimeout(() => {
        for (const name of names) events.off(name, done);
        reject(new Error(`Discord double: no ${what} within ${READY_TIMEOUT_MS} ms`));
      }, READY_TIMEOUT_MS);
      for (const name of names) events.on(name, done);
    });
  }

  const double: DiscordDouble = {
    apiBase: `${origin}/api`,
    origin,
    token,
    applicationId,
    bot,
    guildId,
    textChannelId,
    users,
    guildOwner,
    moderatorRoleId,
    adminRoleId,
    requests,
    messages,
    get identifies() {
      return identifies;
    },
    get resumes() {
      return resumes;
    },
    get intents() {
      return lastIntents;
    },
    waitForRequest(predicate, waitOptions = {}) {
      return waitIn(waiters, predicate, waitOptions, 'no matching request');
    },
    waitForReady() {
      if (readySession?.socket) return Promise.resolve();
      return nextOf(['ready', 'resumed'], 'IDENTIFY');
    },
    dispatch,
    dmChannelId,
    sendCommand,
    sendAutocomplete,
    clickButton,
    sendMessage,
    async dropConnection(code = 4000) {
      connectedSessions('drop');
      const back = nextOf(['ready', 'resumed'], 'RESUME or IDENTIFY after the dropped connection');
      closeGateway(code);
      await back;
    },
    waitForResponse(predicate, waitOptions = {}) {
      return waitIn(
        responseWaiters,
        predicate,
        waitOptions,
        'no matching answered request',
        (r) => r.response !== undefined,
      );
    },
    failRequests(match, fault, faultOptions = {}) {
      const times = faultOptions.times ?? 1;
      let exhausted!: () => void;
      const done = new Promise<void>((resolve) => (exhausted = resolve));
      const armed = { match: requestMatcher(match), fault, remaining: times, hits: [], exhausted };
      restFaults.push(armed);
      if (times <= 0) exhausted();
      return {
        hits: armed.hits,
        get remaining() {
          return armed.remaining;
        },
        exhausted: done,
        cancel() {
          armed.remaining = 0;
          exhausted();
        },
      };
    },
    get injectedFaults() {
      return injectedFaults;
    },
    get gatewayPayloads() {
      return gatewayPayloads;
    },
    waitForIdentify() {
      return nextOf(['ready'], 'accepted IDENTIFY');
    },
    waitForResume() {
      return nextOf(['resumed'], 'accepted RESUME');
    },
    closeGateway,
    requestReconnect() {
      for (const session of connectedSessions('send op 7 Reconnect to')) {
        injectedFaults.push({ kind: 'op 7 reconnect', target: 'gateway', at: Date.now() });
        sendPayload(session.socket!, { op: GatewayOpcodes.Reconnect, d: null });
      }
    },
    invalidateSession(resumable) {
      for (const session of connectedSessions('invalidate')) {
        if (!resumable) session.resumable = false;
        injectedFaults.push({
          kind: `op 9 invalid session d=${resumable}`,
          target: 'gateway',
          at: Date.now(),
        });
        sendPayload(session.socket!, { op: GatewayOpcodes.InvalidSession, d: resumable });
      }
    },
    stopHeartbeatAcks() {
      for (const session of connectedSessions('stop acknowledging heartbeats of')) {
        injectedFaults.push({ kind: 'heartbeat acks stopped', target: 'gateway', at: Date.now() });
        unackedSockets.add(session.socket!);
      }
    },
    failNextIdentify(code) {
      identifyFaults.push(code);
    },
    originalMessage(interactionToken) {
      const id = interactions.get(interactionToken)?.originalMessageId;
      return id ? messages.get(id) : undefined;
    },
    serveFile,
    async close() {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      events.removeAllListeners();
    },
  };
  return double;
}
