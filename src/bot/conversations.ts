/** Options of {@link createConversationMemory}. */
export interface ConversationOptions {
  /** Questions remembered per user. */
  turns: number;
  /** A conversation idle for longer is forgotten. */
  ttlMs: number;
  /** Users remembered at most; the least recently active are forgotten first. */
  maxUsers?: number;
  now?: () => number;
}

/**
 * The recent questions of each direct-message conversation, so that « et Amazon ? » is read with the question
 * before it. Bounded per user and in users, and expiring.
 */
export function createConversationMemory(options: ConversationOptions) {
  const now = options.now ?? Date.now;
  const maxUsers = options.maxUsers ?? 5000;
  const byUser = new Map<string, { questions: string[]; at: number }>();
  return {
    /** The remembered questions of `userId`, oldest first (empty once expired). */
    context(userId: string): string[] {
      const entry = byUser.get(userId);
      if (!entry) return [];
      if (now() - entry.at > options.ttlMs) {
        byUser.delete(userId);
        return [];
      }
      return [...entry.questions];
    },
    remember(userId: string, question: string): void {
      if (options.turns === 0) return;
      const questions = [...this.context(userId), question].slice(-options.turns);
      byUser.delete(userId);
      byUser.set(userId, { questions, at: now() });
      while (byUser.size > maxUsers) byUser.delete(byUser.keys().next().value as string);
    },
    forget(userId: string): void {
      byUser.delete(userId);
    },
    get size() {
      return byUser.size;
    },
  };
}

export type ConversationMemory = ReturnType<typeof createConversationMemory>;
