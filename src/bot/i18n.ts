import type { Language } from '../rag/service.js';

/** Every sentence the bot says, in French and English. */
const TEXT = {
  fr: {
    sourcesButton: 'Sources',
    helpful: 'Utile',
    notHelpful: 'Pas utile',
    sourcesHeading: 'Sources',
    passagesTitle: 'Les passages autour des citations',
    sourceGone: 'Ce document n’est plus dans le corpus.',
    answerExpired: 'Cette réponse est trop ancienne : posez la question à nouveau.',
    thanks: (up: boolean) =>
      up ? 'Merci, votre avis (utile) est enregistré.' : 'Merci, votre avis (pas utile) est enregistré.',
    footer: (version: string) => `Verbatim · corpus ${version}`,
    queued: (position: number) =>
      `⏳ Beaucoup de questions en ce moment : vous êtes en file d’attente (position ${position}).`,
    busy: 'Le bot est saturé : réessayez dans une minute.',
    cooldown: (seconds: number) => `Doucement : vous pourrez reposer une question dans ${seconds} s.`,
    shuttingDown: 'Le bot redémarre : réessayez dans un instant.',
    error: (id: string) => `Une erreur est survenue. Référence : \`${id}\`.`,
    notModerator: 'Cette commande est réservée aux modérateurs (Gérer le serveur, ou un rôle de modération).',
    notInDm: 'Cette commande ne s’utilise que sur un serveur.',
    emptyQuestion:
      'Posez votre question après la mention, par exemple : « @Verbatim pourquoi Microsoft a-t-il suspendu Azure ? »',
  },
  en: {
    sourcesButton: 'Sources',
    helpful: 'Helpful',
    notHelpful: 'Not helpful',
    sourcesHeading: 'Sources',
    passagesTitle: 'The passages around the quotes',
    sourceGone: 'This document is no longer in the corpus.',
    answerExpired: 'This answer is too old: please ask again.',
    thanks: (up: boolean) =>
      up
        ? 'Thanks, your feedback (helpful) is recorded.'
        : 'Thanks, your feedback (not helpful) is recorded.',
    footer: (version: string) => `Verbatim · corpus ${version}`,
    queued: (position: number) => `⏳ Many questions right now: you are in the queue (position ${position}).`,
    busy: 'The bot is overloaded: please try again in a minute.',
    cooldown: (seconds: number) => `Easy: you can ask again in ${seconds} s.`,
    shuttingDown: 'The bot is restarting: please try again in a moment.',
    error: (id: string) => `Something went wrong. Reference: \`${id}\`.`,
    notModerator: 'This command is for moderators (Manage Server, or a moderator role).',
    notInDm: 'This command only works in a server.',
    emptyQuestion:
      'Ask your question after the mention, for example: "@Verbatim why did Microsoft suspend Azure?"',
  },
} as const;

export type BotText = (typeof TEXT)[Language];

/** The bot's sentences in `language`. */
export function t(language: Language): BotText {
  return TEXT[language];
}

/** Discord locale to language: French for `fr`, English otherwise. */
export function languageOfLocale(locale: string | null | undefined): Language {
  return locale?.toLowerCase().startsWith('fr') ? 'fr' : 'en';
}
