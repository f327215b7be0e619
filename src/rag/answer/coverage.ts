import { conceptsOf } from '../text/glossary.js';
import { forEachWord, isStopword, prefixKey, stem } from '../text/tokenize.js';

/** Words of a question that carry no content of their own (« what », « quel », « dire »…). */
const QUESTION_WORDS = new Set(
  (
    'what which who whom whose why how when where does did do is are was were quoi quel quelle quels quelles qui que ' +
    'pourquoi comment quand combien est-ce c est ce cet cette ces il elle ils elles exactement vraiment'
  ).split(' '),
);

/** {@link keysOf} by word: the same few thousand words come back in every passage scored. */
const keyCache = new Map<string, { folded: string; keys: readonly string[] }>();
const KEY_CACHE_LIMIT = 50_000;

/** The match keys of one content word: stems in both languages, a cognate key, and glossary concepts. */
function keysOf(word: string, folded: string): readonly string[] {
  const cached = keyCache.get(word);
  if (cached?.folded === folded) return cached.keys;
  const keys = computeKeys(word, folded);
  if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.clear();
  keyCache.set(word, { folded, keys });
  return keys;
}

function computeKeys(word: string, folded: string): string[] {
  return [
    `s:${stem(word, 'fr')}`,
    `s:${stem(word, 'en')}`,
    `p:${prefixKey(word)}`,
    ...conceptsOf(word, folded, 'fr').map((c) => `c:${c}`),
    ...conceptsOf(word, folded, 'en').map((c) => `c:${c}`),
  ];
}

/** Whether a word (folded) carries meaning: not a stopword, a question word or a single letter. */
const isContentWord = (folded: string) =>
  !isStopword(folded) && !QUESTION_WORDS.has(folded) && folded.length >= 2;

/** The content words of a text with their match keys. Parts of hyphenated names count once, as the whole name. */
export function contentWords(text: string): { word: string; keys: Set<string> }[] {
  const words: { word: string; folded: string; keys: Set<string> }[] = [];
  forEachWord(text, (word, folded, joined) => {
    if (joined) {
      const merged = new Set(keysOf(word, folded));
      let rest = folded;
      while (words.length > 0 && rest.endsWith((words[words.length - 1] as { folded: string }).folded)) {
        const part = words.pop() as { folded: string; keys: Set<string> };
        rest = rest.slice(0, rest.length - part.folded.length);
        for (const k of part.keys) merged.add(k);
      }
      words.push({ word, folded, keys: merged });
      return;
    }
    if (!isContentWord(folded)) return;
    words.push({ word, folded, keys: new Set(keysOf(word, folded)) });
  });
  return words;
}

/**
 * All match keys of a text: those of {@link contentWords}, without a set per word (a hyphenated name's merged keys
 * are its parts' and its own, all of which are added here anyway).
 */
export function keySet(text: string): Set<string> {
  const keys = new Set<string>();
  forEachWord(text, (word, folded, joined) => {
    if (!joined && !isContentWord(folded)) return;
    for (const k of keysOf(word, folded)) keys.add(k);
  });
  return keys;
}

/** Share of the question's content words that the passage contains, by stem, cognate or glossary concept. */
export function coverage(questionWords: readonly { keys: Set<string> }[], passageKeys: Set<string>): number {
  if (questionWords.length === 0) return 0;
  let found = 0;
  for (const w of questionWords)
    for (const k of w.keys)
      if (passageKeys.has(k)) {
        found += 1;
        break;
      }
  return found / questionWords.length;
}
