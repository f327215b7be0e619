import type { Language } from '../types.js';

function listTitles(titles: readonly string[], language: Language, total: number): string {
  const quoted = titles.map((t) => (language === 'fr' ? `« ${t} »` : `“${t}”`));
  const more = total - titles.length;
  if (more > 0) {
    const count = more.toLocaleString(language === 'fr' ? 'fr-FR' : 'en-US');
    return `${quoted.join(', ')} ${language === 'fr' ? `et ${count} autres` : `and ${count} more`}`;
  }
  if (quoted.length <= 1) return quoted.join('');
  const last = quoted.pop() as string;
  return `${quoted.join(', ')} ${language === 'fr' ? 'et' : 'and'} ${last}`;
}

const LANGUAGE_NAMES: Record<string, { fr: string; en: string }> = {
  fr: { fr: 'français', en: 'French' },
  en: { fr: 'anglais', en: 'English' },
};

/**
 * The one line that introduces the quotes of an answer. Sources are listed under the quotes, so the line stays
 * short; it says when the quotes are in another language than the question.
 */
export function framingLine(
  language: Language,
  quoteCount: number,
  documentLanguages: readonly string[],
): string {
  const other = documentLanguages.find((l) => l !== language);
  const otherName = other ? LANGUAGE_NAMES[other]?.[language] : undefined;
  if (language === 'fr') {
    const what =
      quoteCount === 1
        ? 'le passage des sources qui répond le mieux'
        : 'les passages des sources qui répondent le mieux';
    const original = other
      ? otherName
        ? ` (en ${otherName} dans l’original)`
        : ' (dans la langue de l’original)'
      : '';
    return `Voici ${what} à votre question, cité${quoteCount === 1 ? '' : 's'} mot pour mot${original} :`;
  }
  const what =
    quoteCount === 1
      ? 'the passage of the sources that best answers'
      : 'the passages of the sources that best answer';
  const original = other
    ? otherName
      ? ` (in the original ${otherName})`
      : ' (in the original language)'
    : '';
  return `Here ${quoteCount === 1 ? 'is' : 'are'} ${what} your question, quoted word for word${original}:`;
}

/**
 * The answer to a question the sources do not answer: says so, and what they do cover (`titles`, out of `total`
 * documents: a large corpus is summarised, not listed).
 */
export function noAnswerMessage(
  language: Language,
  titles: readonly string[],
  total = titles.length,
): string {
  if (titles.length === 0) {
    return language === 'fr'
      ? 'Le corpus est vide : aucune source ne permet de répondre.'
      : 'The corpus is empty: there are no sources to answer from.';
  }
  return language === 'fr'
    ? `Je ne trouve pas la réponse dans les sources. Elles couvrent : ${listTitles(titles, 'fr', total)}.`
    : `I can't find the answer in the sources. They cover: ${listTitles(titles, 'en', total)}.`;
}

/** Why a question was refused. */
export function rejectionMessage(
  language: Language,
  reason: 'empty' | 'too_long' | 'corpus_empty',
  limit?: number,
): string {
  switch (reason) {
    case 'empty':
      return language === 'fr' ? 'La question est vide.' : 'The question is empty.';
    case 'too_long':
      return language === 'fr'
        ? `La question est trop longue : ${limit} caractères au plus.`
        : `The question is too long: ${limit} characters at most.`;
    case 'corpus_empty':
      return language === 'fr'
        ? 'Le corpus est vide : ajoutez des articles avant de poser des questions.'
        : 'The corpus is empty: add articles before asking questions.';
  }
}

/** Why an LLM answer was replaced by the extractive one. */
export type FallbackReason =
  | 'LLM_TIMEOUT'
  | 'LLM_RATE_LIMITED'
  | 'LLM_UNAVAILABLE'
  | 'LLM_AUTH'
  | 'LLM_BAD_OUTPUT'
  | 'LLM_FAILED'
  | 'UNVERIFIED';

const FALLBACK_REASONS: Record<FallbackReason, { fr: string; en: string }> = {
  LLM_TIMEOUT: { fr: 'il n’a pas répondu à temps', en: 'it did not answer in time' },
  LLM_RATE_LIMITED: { fr: 'il reçoit trop de demandes', en: 'it is rate limited' },
  LLM_UNAVAILABLE: { fr: 'il est indisponible', en: 'it is unavailable' },
  LLM_AUTH: { fr: 'il a refusé l’accès', en: 'it refused access' },
  LLM_BAD_OUTPUT: { fr: 'sa réponse était illisible', en: 'its response was unreadable' },
  LLM_FAILED: { fr: 'il a échoué', en: 'it failed' },
  UNVERIFIED: { fr: 'ses citations n’ont pas pu être vérifiées', en: 'its quotes could not be verified' },
};

/** The one-line note shown when the extractive answer stands in for the LLM's. */
export function fallbackNote(language: Language, reason: FallbackReason): string {
  const why = FALLBACK_REASONS[reason][language];
  return language === 'fr'
    ? `Réponse extractive : le modèle de langue n’a pas servi (${why}).`
    : `Extractive answer: the language model was not used (${why}).`;
}

/** The framing line of an LLM answer. */
export function llmFramingLine(language: Language): string {
  return language === 'fr'
    ? 'Réponse rédigée à partir des sources ; chaque citation est vérifiée mot pour mot :'
    : 'Answer written from the sources; every quote is checked word for word:';
}
