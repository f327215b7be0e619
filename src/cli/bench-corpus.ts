import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { computeContentHash } from '../rag/corpus/ids.js';
import type { SourceDocument } from '../rag/types.js';

/**
 * A deterministic synthetic corpus for the benchmark: French-like news dispatches built from word lists, with the
 * typography of real articles (’ « » –), so that the sentence splitter, the tokenizer and the embedder do the work
 * they do on real text. The same seed gives the same corpus on every machine and in every process, which is what
 * lets each system be measured in its own process on identical chunks.
 */

/** mulberry32: a small, fast, seeded PRNG returning floats in [0, 1). */
export function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Random = () => number;

const pick = <T>(random: Random, list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
const int = (random: Random, min: number, max: number): number =>
  min + Math.floor(random() * (max - min + 1));

const FIRST_NAMES = [
  'Anne',
  'Bruno',
  'Camille',
  'Chloé',
  'Claire',
  'Damien',
  'Élise',
  'Émilie',
  'François',
  'Gaël',
  'Hélène',
  'Inès',
  'Jérôme',
  'Julien',
  'Karim',
  'Laure',
  'Léa',
  'Lucas',
  'Mathilde',
  'Maxime',
  'Nadia',
  'Noémie',
  'Olivier',
  'Pascal',
  'Rachid',
  'Régis',
  'Sandrine',
  'Sébastien',
  'Sophie',
  'Thierry',
  'Valérie',
  'Yannick',
  'Zoé',
  'Agnès',
  'Benoît',
  'Céline',
  'Denis',
  'Estelle',
  'Fabrice',
  'Geneviève',
  'Hugo',
  'Isabelle',
  'Jean-Marc',
  'Marie-Laure',
  'Aurélien',
] as const;

const LAST_NAMES = [
  'Martin',
  'Bernard',
  'Dubois',
  'Thomas',
  'Robert',
  'Richard',
  'Petit',
  'Durand',
  'Leroy',
  'Moreau',
  'Simon',
  'Laurent',
  'Lefèvre',
  'Michel',
  'Garcia',
  'David',
  'Bertrand',
  'Roux',
  'Vincent',
  'Fournier',
  'Morel',
  'Girard',
  'André',
  'Lefebvre',
  'Mercier',
  'Dupont',
  'Lambert',
  'Bonnet',
  'François',
  'Martinez',
  'Legrand',
  'Garnier',
  'Faure',
  'Rousseau',
  'Blanc',
  'Guérin',
  'Muller',
  'Henry',
  'Roussel',
  'Nicolas',
  'Perrin',
  'Morin',
  'Mathieu',
  'Clément',
  'Gauthier',
  'Dumont',
  'Lopez',
  'Fontaine',
  'Chevalier',
  'Robin',
  'Benali',
  'Nguyen',
  'Kowalski',
] as const;

const ROLES = [
  'la ministre de l’Économie',
  'le porte-parole du gouvernement',
  'la présidente de la région',
  'le maire',
  'la directrice générale',
  'le secrétaire d’État au Numérique',
  'le préfet',
  'la rapporteure du budget',
  'le président du syndicat',
  'la procureure',
  'le directeur financier',
  'la cheffe de la diplomatie',
  'le délégué syndical',
  'l’économiste en chef',
  'la commissaire européenne',
  'le juge d’instruction',
] as const;

const ORGS = [
  'l’Assemblée nationale',
  'le Sénat',
  'la Commission européenne',
  'la Banque de France',
  'l’Insee',
  'la SNCF',
  'EDF',
  'Airbus',
  'TotalEnergies',
  'Renault',
  'la CGT',
  'la CFDT',
  'le Conseil d’État',
  'la Cour des comptes',
  'l’Autorité de la concurrence',
  'la CNIL',
  'l’ONU',
  'l’OTAN',
  'la Banque centrale européenne',
  'Orange',
  'Microsoft',
  'Amazon',
  'Google',
  'le Medef',
  'l’Arcom',
  'Météo-France',
  'l’Agence régionale de santé',
  'le tribunal administratif',
  'la mairie',
  'le conseil départemental',
  'Thales',
  'Safran',
  'Dassault Aviation',
] as const;

const PLACES = [
  'Paris',
  'Lyon',
  'Marseille',
  'Toulouse',
  'Nice',
  'Nantes',
  'Strasbourg',
  'Montpellier',
  'Bordeaux',
  'Lille',
  'Rennes',
  'Reims',
  'Le Havre',
  'Saint-Étienne',
  'Toulon',
  'Grenoble',
  'Dijon',
  'Angers',
  'Nîmes',
  'Villeurbanne',
  'Clermont-Ferrand',
  'Le Mans',
  'Aix-en-Provence',
  'Brest',
  'Tours',
  'Amiens',
  'Limoges',
  'Annecy',
  'Perpignan',
  'Metz',
  'Besançon',
  'Orléans',
  'Rouen',
  'Mulhouse',
  'Caen',
  'Nancy',
  'Argenteuil',
  'Bruxelles',
  'Genève',
  'Montréal',
  'Berlin',
  'Madrid',
  'Rome',
  'Lisbonne',
  'Varsovie',
  'Dakar',
  'Abidjan',
  'Tunis',
  'Alger',
  'Rabat',
  'Bamako',
  'Kinshasa',
  'Beyrouth',
  'Gaza',
  'Jérusalem',
  'Kiev',
  'Washington',
  'New York',
  'Pékin',
  'Tokyo',
] as const;

const SUBJECTS = [
  'le gouvernement',
  'la majorité',
  'l’opposition',
  'les syndicats',
  'la direction',
  'les enquêteurs',
  'les agriculteurs',
  'les élus locaux',
  'le parquet',
  'les salariés',
  'les habitants',
  'la préfecture',
  'les chercheurs',
  'les associations',
  'le conseil municipal',
  'les députés',
  'les sénateurs',
  'l’entreprise',
  'les cheminots',
  'les enseignants',
  'les médecins',
  'les pompiers',
  'les investisseurs',
  'la police',
  'les autorités sanitaires',
  'les services de renseignement',
  'les constructeurs',
  'les opérateurs',
] as const;

const VERBS = [
  'annoncé',
  'présenté',
  'dénoncé',
  'confirmé',
  'rejeté',
  'adopté',
  'suspendu',
  'lancé',
  'critiqué',
  'réclamé',
  'défendu',
  'révélé',
  'signé',
  'reporté',
  'validé',
  'contesté',
  'financé',
  'relancé',
  'examiné',
  'approuvé',
  'publié',
  'engagé',
  'abandonné',
  'négocié',
  'proposé',
  'renforcé',
  'prolongé',
  'interdit',
  'autorisé',
  'évoqué',
  'précisé',
  'démenti',
] as const;

const OBJECTS = [
  'un plan d’investissement',
  'la réforme des retraites',
  'un projet de loi sur l’énergie',
  'le budget rectificatif',
  'une enquête préliminaire',
  'un accord salarial',
  'la fermeture du site',
  'un contrat de défense',
  'la hausse des tarifs',
  'un programme de rénovation',
  'la construction d’un hôpital',
  'un moratoire',
  'une grève reconductible',
  'le rachat de la filiale',
  'un partenariat industriel',
  'la baisse des effectifs',
  'un dispositif d’aide',
  'la création d’emplois',
  'une taxe sur les superprofits',
  'le nouveau tramway',
  'la privatisation de l’aéroport',
  'un fonds de soutien',
  'la stratégie climatique',
  'une cyberattaque',
  'le contrat de cloud',
  'la surveillance des données',
  'une hausse des loyers',
  'le plan vélo',
  'la réouverture de la ligne',
  'un recours en justice',
  'la vente d’armes',
  'une mission d’observation',
  'la crise du logement',
  'le financement des écoles',
  'la pénurie de médicaments',
  'un prêt garanti',
  'la fusion des deux groupes',
  'un appel d’offres',
  'la suppression de postes',
  'le déploiement de la fibre',
] as const;

const REASONS = [
  'faute de financement',
  'après des mois de négociation',
  'malgré l’opposition des riverains',
  'sous la pression de Bruxelles',
  'pour respecter ses engagements climatiques',
  'à la suite d’un rapport accablant',
  'en raison de la sécheresse',
  'dans un contexte d’inflation',
  'pour rassurer les marchés',
  'après une série d’incidents',
  'à quelques semaines des élections',
  'face à la concurrence chinoise',
] as const;

const UNITS = [
  'millions d’euros',
  'milliards d’euros',
  'emplois',
  'logements',
  'salariés',
  'kilomètres',
  'hectares',
  'manifestants',
  'élèves',
  'patients',
  'entreprises',
  'communes',
  'tonnes de CO₂',
  'mégawatts',
] as const;

const PARTICIPLES = [
  'supprimés',
  'créés',
  'concernés',
  'mobilisés',
  'recensés',
  'menacés',
  'financés',
  'investis',
  'annoncés',
  'engagés',
  'prévus',
  'touchés',
  'évacués',
  'rénovés',
] as const;

const MONTHS = [
  'janvier',
  'février',
  'mars',
  'avril',
  'mai',
  'juin',
  'juillet',
  'août',
  'septembre',
  'octobre',
  'novembre',
  'décembre',
] as const;

const SOURCES = [
  'Le Quotidien',
  'La Dépêche du Soir',
  'L’Écho régional',
  'Le Courrier',
  'Ouest Matin',
  'Agence Presse',
];

const QUOTES = [
  'nous ne céderons pas sur l’essentiel',
  'c’est une étape historique pour le territoire',
  'il n’y a aucune raison de paniquer',
  'les chiffres parlent d’eux-mêmes',
  'nous attendons des actes, pas des mots',
  'la sécurité des usagers reste notre priorité',
  'ce projet était attendu depuis dix ans',
  'personne ne sera laissé de côté',
  'nous irons jusqu’au bout de la procédure',
  'le calendrier sera tenu',
] as const;

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const name = (r: Random) => `${pick(r, FIRST_NAMES)} ${pick(r, LAST_NAMES)}`;
const date = (r: Random) => `le ${int(r, 1, 28)} ${pick(r, MONTHS)} ${int(r, 2019, 2025)}`;
const amount = (r: Random) => `${int(r, 2, 950)} ${pick(r, UNITS)}`;

/** « a » or « ont » after a subject, so that « les syndicats ont signé » agrees. */
const has = (subject: string) => (subject.startsWith('les ') ? 'ont' : 'a');
const act = (r: Random, subject: string) =>
  `${subject} ${has(subject)} ${pick(r, VERBS)} ${pick(r, OBJECTS)}`;

const SENTENCES: readonly ((r: Random) => string)[] = [
  (r) => `${capitalize(act(r, pick(r, SUBJECTS)))} à ${pick(r, PLACES)}, ${date(r)}.`,
  (r) => `Selon ${name(r)}, ${pick(r, ROLES)}, ${act(r, pick(r, ORGS))}.`,
  (r) => `« ${capitalize(pick(r, QUOTES))} », a déclaré ${name(r)}, ${pick(r, ROLES)}, à ${pick(r, PLACES)}.`,
  (r) =>
    `À ${pick(r, PLACES)}, ${amount(r)} sont ${pick(r, PARTICIPLES)} – un chiffre ${pick(r, ['inédit', 'contesté', 'en hausse', 'en recul'])}.`,
  (r) => `${capitalize(act(r, pick(r, ORGS)))}, soit ${amount(r)}, ${pick(r, REASONS)}.`,
  (r) => `D’après ${pick(r, ORGS)}, ${act(r, pick(r, SUBJECTS))} ${pick(r, REASONS)}.`,
  (r) => `${act(r, name(r))} lors d’une réunion à ${pick(r, PLACES)}.`,
  (r) => `L’annonce intervient alors que ${act(r, pick(r, SUBJECTS))}.`,
];

const TITLES: readonly ((r: Random) => string)[] = [
  (r) =>
    `${capitalize(pick(r, OBJECTS))} : ${pick(r, ORGS)} ${pick(r, ['hausse le ton', 'recule', 'tranche', 'temporise', 's’engage'])}`,
  (r) => `À ${pick(r, PLACES)}, ${pick(r, OBJECTS)} divise ${pick(r, SUBJECTS)}`,
  (r) => `« ${capitalize(pick(r, QUOTES))} », prévient ${name(r)}`,
];

/** Options of {@link generateCorpus}. */
export interface SyntheticCorpusOptions {
  /** Chunks the corpus should make with the default chunker (3 sentences, 1 of overlap). */
  chunks: number;
  seed?: number;
  /** Average chunks per document; each document has between half and one and a half times this. Default 8. */
  chunksPerDocument?: number;
  /** Prefix of document ids, so that extra documents never collide with the corpus. Default `bench`. */
  idPrefix?: string;
}

export const DEFAULT_BENCH_SEED = 20_251_128;
export const DEFAULT_CHUNKS_PER_DOCUMENT = 8;

/**
 * One synthetic article that chunks into `chunks` chunks: `2 * chunks + 1` sentences, since the chunker's windows of
 * three sentences advance by two. Paragraphs hold two to four sentences. The text is already in the normalised form
 * the corpus loader produces, so writing it to a `.md` file and loading it back gives the same text and hash.
 */
export function generateDocument(random: Random, id: string, chunks: number): SourceDocument {
  const sentences = Array.from({ length: 2 * Math.max(1, chunks) + 1 }, () =>
    pick(random, SENTENCES)(random),
  );
  const paragraphs: string[] = [];
  for (let i = 0; i < sentences.length;) {
    const size = int(random, 2, 4);
    paragraphs.push(sentences.slice(i, i + size).join(' '));
    i += size;
  }
  const meta = {
    id,
    title: pick(random, TITLES)(random),
    language: 'fr',
    source: pick(random, SOURCES),
    url: `https://news.example/${id}`,
    date: `${int(random, 2019, 2025)}-${String(int(random, 1, 12)).padStart(2, '0')}-${String(int(random, 1, 28)).padStart(2, '0')}`,
    text: paragraphs.join('\n\n').normalize('NFC'),
  };
  return { ...meta, contentHash: computeContentHash(meta), path: `${id}.md` };
}

/** Documents making about `options.chunks` chunks in all (exactly, when the chunker splits as planned). */
export function generateCorpus(options: SyntheticCorpusOptions): SourceDocument[] {
  const random = createRandom(options.seed ?? DEFAULT_BENCH_SEED);
  const perDocument = Math.max(1, options.chunksPerDocument ?? DEFAULT_CHUNKS_PER_DOCUMENT);
  const documents: SourceDocument[] = [];
  let remaining = Math.max(1, Math.round(options.chunks));
  while (remaining > 0) {
    const planned = Math.min(remaining, documentChunks(random, perDocument));
    documents.push(generateDocument(random, documentId(options.idPrefix, documents.length), planned));
    remaining -= planned;
  }
  return documents;
}

/** `count` documents of the same kind as {@link generateCorpus}'s (for the incremental measurements). */
export function generateDocuments(
  count: number,
  options: Omit<SyntheticCorpusOptions, 'chunks'>,
): SourceDocument[] {
  const random = createRandom(options.seed ?? DEFAULT_BENCH_SEED);
  const perDocument = Math.max(1, options.chunksPerDocument ?? DEFAULT_CHUNKS_PER_DOCUMENT);
  return Array.from({ length: count }, (_, i) =>
    generateDocument(random, documentId(options.idPrefix, i), documentChunks(random, perDocument)),
  );
}

const documentId = (prefix: string | undefined, n: number) =>
  `${prefix ?? 'bench'}-${String(n).padStart(7, '0')}`;
const documentChunks = (random: Random, perDocument: number) =>
  int(
    random,
    Math.ceil(perDocument / 2),
    Math.max(Math.ceil(perDocument / 2), Math.floor((perDocument * 3) / 2)),
  );

const QUESTIONS: readonly ((r: Random) => string)[] = [
  (r) => {
    const subject = pick(r, SUBJECTS);
    return `Qu’${subject.startsWith('les ') ? 'ont' : 'a'} ${pick(r, VERBS)} ${subject} à ${pick(r, PLACES)} ?`;
  },
  (r) => `Combien de ${pick(r, UNITS)} sont ${pick(r, PARTICIPLES)} à ${pick(r, PLACES)} ?`,
  (r) => `Que dit ${name(r)} sur ${pick(r, OBJECTS)} ?`,
  (r) => `Quand ${pick(r, ORGS)} a-t-il ${pick(r, VERBS)} ${pick(r, OBJECTS)} ?`,
  (r) => `Pourquoi ${act(r, pick(r, SUBJECTS))} ?`,
  (r) => `Quel est le montant de ${pick(r, OBJECTS)} ${pick(r, REASONS)} ?`,
  (r) => `Qui a ${pick(r, VERBS)} ${pick(r, OBJECTS)} à ${pick(r, PLACES)} ?`,
];

/** Questions in the corpus's vocabulary, for latency and recall measurements. */
export function generateQuestions(count: number, seed = DEFAULT_BENCH_SEED + 1): string[] {
  const random = createRandom(seed);
  return Array.from({ length: count }, () => pick(random, QUESTIONS)(random));
}

const yamlString = (value: string) => JSON.stringify(value);

/** The `.md` file the corpus loader reads back as `doc` (front matter plus paragraphs). */
export function toMarkdownFile(doc: SourceDocument): string {
  const front = ['id', 'title', 'language', 'source', 'url', 'date'] as const;
  return `---\n${front.map((key) => `${key}: ${yamlString(doc[key])}`).join('\n')}\n---\n\n${doc.text}\n`;
}

/** Writes each document as `<dir>/<path>`, 64 at a time. */
export async function writeCorpusFiles(dir: string, documents: readonly SourceDocument[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (let i = 0; i < documents.length; i += 64) {
    await Promise.all(
      documents.slice(i, i + 64).map((doc) => writeFile(join(dir, doc.path), toMarkdownFile(doc))),
    );
  }
}

/** Parses a corpus size: `10k`, `100k`, `1m`, or a plain number of chunks. */
export function parseSize(size: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([km]?)$/i.exec(size.trim());
  if (!match) throw new RangeError(`invalid size "${size}": use 10k, 100k, 1m or a number of chunks`);
  const factor = { '': 1, k: 1_000, m: 1_000_000 }[(match[2] ?? '').toLowerCase() as '' | 'k' | 'm'];
  const chunks = Math.round(Number(match[1]) * factor);
  if (chunks < 1) throw new RangeError(`invalid size "${size}": at least one chunk`);
  return chunks;
}
