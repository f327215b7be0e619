/**
 * What kind of answer a question asks for. A passage that merely shares the question's topic does not answer
 * « Quand Azure a-t-il été lancé ? »: it must contain a date. Checking the expected answer type lets the extractive
 * answerer decline near-topic questions the sources cannot answer, instead of quoting something loosely related.
 */
export type ExpectedAnswer = 'title' | 'time' | 'duration' | 'money' | 'quantity' | 'any';

const APOSTROPHE = "['’]";
const PATTERNS: [ExpectedAnswer, RegExp][] = [
  ['title', /\b(?:titre|intitul[ée]e?|gros titre|headline|title)\b/iu],
  ['duration', /\b(?:combien de temps|depuis combien|how long|for how many (?:years|months|days))\b/iu],
  [
    'money',
    new RegExp(
      `\\b(?:combien d${APOSTROPHE}argent|montant|co[uû]t(?:e|ent|é)?|prix|chiffre d${APOSTROPHE}affaires|how much money|` +
        `amount|cost|price|revenue|worth|how much (?:did|does|do|is|was|will|would)\\b[^?]*\\b(?:pay|cost|lose|earn|spend|make))\\b`,
      'iu',
    ),
  ],
  [
    'time',
    /(?:^|[\s,.;:!?¿¡«"“(])(?:quand|when|depuis quand|since when|(?:à|a|on|at) quelle date|quelle date|what date|which date|en quelle année|quelle année|what year|which year|quel jour|what day)(?=$|[\s,.;:!?»"”)])/iu,
  ],
  ['quantity', /\b(?:combien|how many|nombre de|number of|quel pourcentage|what percentage|what share|quelle part|quelle proportion)\b/iu],
];

/** Classifies a question by the kind of answer it expects. */
export function expectedAnswer(question: string): ExpectedAnswer {
  for (const [type, pattern] of PATTERNS) if (pattern.test(question)) return type;
  return 'any';
}

const NUMBER_WORDS =
  'deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|quinze|vingt|trente|quarante|cinquante|soixante|cent|cents|mille|' +
  'million|millions|milliard|milliards|dizaine|dizaines|centaine|centaines|majorité|minorité|moitié|tiers|quart|' +
  'two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|hundred|hundreds|' +
  'thousand|thousands|billion|billions|dozen|dozens|majority|minority|half|third|quarter';
const MONTHS =
  'janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre|décembre|decembre|' +
  'january|february|march|april|may|june|july|august|september|october|november|december';
const DAYS = 'lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|monday|tuesday|wednesday|thursday|friday|saturday|sunday';
const UNITS = 'ans?|années?|mois|semaines?|jours?|heures?|minutes?|décennies?|siècles?|years?|months?|weeks?|days?|hours?|decades?|centuries';

const HAS_NUMBER = new RegExp(`\\d|\\b(?:${NUMBER_WORDS})\\b|%`, 'iu');
const HAS_DATE = new RegExp(
  `\\b(?:1[89]\\d\\d|20\\d\\d)\\b|\\b\\d{1,2}[/.-]\\d{1,2}(?:[/.-]\\d{2,4})?\\b|\\b(?:${MONTHS}|${DAYS})\\b|` +
    `\\b(?:hier|aujourd['’]hui|demain|avant-hier|yesterday|today|tomorrow|last (?:week|month|year)|la semaine dernière|le mois dernier|l['’]an dernier|l['’]année dernière)\\b`,
  'iu',
);
const HAS_DURATION = new RegExp(`\\b(?:\\d+|${NUMBER_WORDS})\\s+(?:${UNITS})\\b`, 'iu');
const HAS_MONEY = /[$€£¥]|\b(?:dollars?|euros?|livres sterling|usd|eur|gbp)\b|\b\d[\d  ,.]*\s*(?:millions?|milliards?|billions?|k|m|md)\b/iu;

/** Whether a sentence can answer a question expecting `type` (a date for « quand », a number for « combien »…). */
export function canAnswer(sentence: string, type: ExpectedAnswer): boolean {
  switch (type) {
    case 'time':
      return HAS_DATE.test(sentence);
    case 'duration':
      return HAS_DURATION.test(sentence);
    case 'money':
      return HAS_MONEY.test(sentence);
    case 'quantity':
      return HAS_NUMBER.test(sentence);
    case 'title':
    case 'any':
      return true;
  }
}
