import {
  PermissionFlagsBits,
  type GuildMember,
  type Interaction,
  type APIInteractionGuildMember,
} from 'discord.js';

/** Who may change the corpus. */
export interface ModeratorPolicy {
  moderatorRoleIds: readonly string[];
  ownerIds: readonly string[];
}

function roleIds(member: GuildMember | APIInteractionGuildMember | null): string[] {
  if (!member) return [];
  return Array.isArray(member.roles) ? member.roles : [...member.roles.cache.keys()];
}

/**
 * Checked when a moderator command runs, whatever Discord's command permissions say (server admins can override
 * them): Manage Server, or a role of `MODERATOR_ROLE_IDS`, or a user of `BOT_OWNER_IDS`. In direct messages only
 * owners qualify.
 */
export function isModerator(interaction: Interaction, policy: ModeratorPolicy): boolean {
  if (policy.ownerIds.includes(interaction.user.id)) return true;
  if (!interaction.inGuild()) return false;
  if (interaction.memberPermissions?.has(PermissionFlagsBits.ManageGuild)) return true;
  return roleIds(interaction.member).some((id) => policy.moderatorRoleIds.includes(id));
}
