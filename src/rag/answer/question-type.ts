/**
 * What kind of answer a question asks for. A passage that merely shares the question's topic does not answer
 * « Quand Azure a-t-il été lancé ? »: it must contain a date. Checking the expected answer type lets the extractive
 * answerer decline near-topic questions the sources cannot answer, instead of quoting something loosely related.
 */
export type ExpectedAnswer = 'title' | 'time' | 'duration' | 'money' | 'quantity' | 'any';

/** A case-insensitive pattern matching any of the alternatives as whole words (`\b` ignores accented letters). */
function words(alternatives: string): RegExp {
  return new RegExp(`(?<![\\p{L}\\p{N}])(?:${alternatives})(?![\\p{L}\\p{N}])`, 'iu');
}

const A = "['’]";
const PATTERNS: [ExpectedAnswer, RegExp][] = [
  ['title', words('titre|intitulé|gros titre|headline|title')],
  ['duration', words('combien de temps|depuis combien|how long|for how many (?:years|months|weeks|days)')],
  [
    'money',
    words(
      `combien d${A}argent|montant|co[uû]te?|co[uû]tent|co[uû]té|prix|chiffre d${A}affaires|how much money|amount|cost|price|` +
        `revenue|worth|how much (?:did|does|do|is|was|will|would)[^?]*(?:pay|cost|lose|earn|spend|make)`,
    ),
  ],
  [
    'time',
    words(
      'quand|when|depuis quand|since when|à quelle date|a quelle date|quelle date|what date|which date|on what date|' +
        'en quelle année|quelle année|what year|which year|quel jour|what day',
    ),
  ],
  [
    'quantity',
    words(
      'combien|quelle quantité|how many|nombre de|number of|quel pourcentage|what percentage|what share|quelle part|quelle proportion',
    ),
  ],
];

/** Classifies a question by the kind of answer it expects. */
export function expectedAnswer(question: string): ExpectedAnswer {
  for (const [type, pattern] of PATTERNS) if (pattern.test(question)) return type;
  return 'any';
}

const NUMBER_WORDS =
  'deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|quinze|vingt|trente|quarante|cinquante|soixante|cent|cents|' +
  'mille|millions?|milliards?|dizaines?|centaines?|majorité|minorité|moitié|tiers|quart|' +
  'two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|hundreds?|' +
  'thousands?|millions?|billions?|dozens?|majority|minority|half|third|quarter';
const MONTHS =
  'janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre|décembre|decembre|' +
  'january|february|march|april|may|june|july|august|september|october|november|december';
const DAYS =
  'lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|monday|tuesday|wednesday|thursday|friday|saturday|sunday';
const RELATIVE_DAYS =
  `hier|aujourd${A}hui|demain|avant-hier|yesterday|today|tomorrow|last (?:week|month|year)|la semaine dernière|` +
  `le mois dernier|l${A}an dernier|l${A}année dernière`;
const UNITS =
  'ans?|années?|mois|semaines?|jours?|heures?|minutes?|décennies?|siècles?|years?|months?|weeks?|days?|hours?|decades?|centuries';

const HAS_NUMBER = new RegExp(`\\d|%|${words(NUMBER_WORDS).source}`, 'iu');
const HAS_DATE = new RegExp(
  `${words('1[89]\\d\\d|20\\d\\d').source}|\\d{1,2}[/.-]\\d{1,2}|${words(`${MONTHS}|${DAYS}|${RELATIVE_DAYS}`).source}`,
  'iu',
);
const HAS_DURATION = words(`(?:\\d+|${NUMBER_WORDS})\\s+(?:${UNITS})`);
const HAS_MONEY = new RegExp(`[$€£¥]|${words('dollars?|euros?|livres sterling|usd|eur|gbp').source}`, 'iu');

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
