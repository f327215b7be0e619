/**
 * Questions about the seed article, paraphrased away from its wording, with the line (0-based) of the seed file
 * that answers each. Shared by the ranking tests of the local embedder.
 */
export interface SeedQuestion {
  lang: 'fr' | 'en';
  question: string;
  /** Line of the seed file that answers the question. */
  expected: number;
}

export const SEED_FILE = new URL('../../fixtures/corpus-seed/000_12ca703743a789d0.txt', import.meta.url);

export const SEED_QUESTIONS: readonly SeedQuestion[] = [
  {
    lang: 'en',
    question: "Why did Microsoft cut off some services to Israel's defense ministry?",
    expected: 2,
  },
  { lang: 'en', question: 'What did the internal probe reveal about the Israeli army?', expected: 4 },
  {
    lang: 'en',
    question: 'Which tools were used to monitor the phone conversations of Palestinians?',
    expected: 4,
  },
  {
    lang: 'en',
    question: 'Where is the Israeli military moving its data after the revelations?',
    expected: 6,
  },
  {
    lang: 'en',
    question: 'What do US polls say about how Americans see the operations in Gaza?',
    expected: 7,
  },
  { lang: 'en', question: 'What are human rights groups demanding?', expected: 8 },
  {
    lang: 'en',
    question: 'Does Microsoft supply technology for mass surveillance of civilians?',
    expected: 5,
  },
  {
    lang: 'en',
    question:
      'Is this the first time a US tech firm has restricted its cooperation with the Israeli government?',
    expected: 3,
  },
  { lang: 'en', question: 'Who is the president of Microsoft and where did he write about it?', expected: 4 },
  {
    lang: 'en',
    question: 'Could the decision become a precedent for other companies in war zones?',
    expected: 9,
  },
  {
    lang: 'fr',
    question: 'Pourquoi Microsoft a-t-il coupé des services au ministère israélien de la Défense ?',
    expected: 2,
  },
  {
    lang: 'fr',
    question: 'Qu’a découvert l’investigation menée en interne sur l’armée israélienne ?',
    expected: 4,
  },
  {
    lang: 'fr',
    question: 'Avec quels outils l’armée écoutait-elle les conversations téléphoniques des Palestiniens ?',
    expected: 4,
  },
  {
    lang: 'fr',
    question: 'Vers quelles plateformes les militaires israéliens ont-ils déplacé leurs données ?',
    expected: 6,
  },
  {
    lang: 'fr',
    question: 'Selon les sondages, que pensent les Américains des opérations menées à Gaza ?',
    expected: 7,
  },
  { lang: 'fr', question: 'Que réclament les ONG qui défendent les droits humains ?', expected: 8 },
  {
    lang: 'fr',
    question: 'Microsoft fournit-il des technologies permettant une surveillance de masse ?',
    expected: 5,
  },
  {
    lang: 'fr',
    question:
      'Est-ce la première fois qu’une société tech américaine restreint sa collaboration avec Israël ?',
    expected: 3,
  },
  { lang: 'fr', question: 'Qui préside Microsoft et où s’est-il exprimé ?', expected: 4 },
  {
    lang: 'fr',
    question: 'Cette décision pourrait-elle servir d’exemple à d’autres sociétés dans des zones de guerre ?',
    expected: 9,
  },
];

export const UNRELATED_QUESTIONS: readonly string[] = [
  'What is the recipe for a chocolate cake?',
  'Quelle est la recette de la tarte aux pommes ?',
  'Who won the football world cup in 2018?',
  'Comment entretenir un jardin potager en hiver ?',
];
