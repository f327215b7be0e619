import { describe, expect, it } from 'vitest';
import {
  analyze,
  foldAccents,
  isStopword,
  stem,
  STOPWORDS,
  tokenize,
} from '../../../src/rag/text/tokenize.js';

describe('foldAccents', () => {
  it('lower-cases and strips diacritics and ligatures', () => {
    expect(foldAccents('Israël Défense ÉTÉ')).toBe('israel defense ete');
    expect(foldAccents('Œuvre cœur Æther Straße')).toBe('oeuvre coeur aether strasse');
    expect(foldAccents('plain ascii')).toBe('plain ascii');
  });
});

describe('tokenize', () => {
  it('splits French elisions with typographic and straight apostrophes', () => {
    expect(tokenize('l’armée d’Israël qu’une')).toEqual(['armee', 'israel', 'une']);
    expect(tokenize("l'enquête jusqu'à lorsqu'il")).toEqual(['enquete', 'a', 'il']);
  });

  it('drops English clitics and keeps aujourd’hui whole', () => {
    expect(tokenize("Israel's army doesn't")).toEqual(['israel', 'army', 'doesn']);
    expect(tokenize('aujourd’hui')).toEqual(['aujourdhui']);
  });

  it('gives the parts of a hyphenated name and the glued form, but not for grammar', () => {
    expect(tokenize('Tel-Aviv')).toEqual(['tel', 'aviv', 'telaviv']);
    expect(tokenize('a-t-il')).toEqual(['a', 't', 'il']);
    expect(tokenize('celle-ci')).toEqual(['celle', 'ci']);
  });

  it('keeps numbers, with a French decimal comma read as a point', () => {
    expect(tokenize('En 2025, 1,5 million de personnes')).toEqual([
      'en',
      '2025',
      '1.5',
      'million',
      'de',
      'personnes',
    ]);
  });

  it('reads upper-case US, EU and UN as institutions, not as stopwords', () => {
    expect(tokenize('US polls tell us')).toEqual(['usa', 'polls', 'tell', 'us']);
    expect(tokenize('the EU and the UN')).toEqual(['the', 'ue', 'and', 'the', 'onu']);
  });

  it('keeps alphanumeric words and long numbers whole', () => {
    expect(tokenize('5G COVID-19 1,234,567')).toEqual(['5g', 'covid', '19', 'covid19', '1.234.567']);
  });

  it('ignores punctuation, guillemets and dashes', () => {
    expect(tokenize('« Microsoft » – Azure : IA ?')).toEqual(['microsoft', 'azure', 'ia']);
  });
});

describe('stopwords', () => {
  it('knows function words of both languages, folded', () => {
    expect(STOPWORDS.fr.has('etait')).toBe(true);
    expect(STOPWORDS.en.has('which')).toBe(true);
    expect(isStopword('les')).toBe(true);
    expect(isStopword('the')).toBe(true);
    expect(isStopword('the', 'fr')).toBe(false);
    expect(isStopword('x')).toBe(true);
    expect(isStopword('surveillance')).toBe(false);
    expect(isStopword('7')).toBe(false);
  });
});

describe('stem', () => {
  it('conflates French inflections and returns folded stems', () => {
    expect(new Set(['surveillance', 'surveiller', 'surveillé', 'surveille'].map((w) => stem(w)))).toEqual(
      new Set(['surveil']),
    );
    expect(stem('israéliennes')).toBe('israelien');
    expect(stem('Palestiniens')).toBe(stem('palestinienne'));
  });

  it('uses the English stemmer on request', () => {
    expect(stem('investigations', 'en')).toBe(stem('investigation', 'en'));
    expect(stem('calls', 'en')).toBe('call');
  });

  it('leaves numbers alone', () => {
    expect(stem('2025')).toBe('2025');
  });
});

describe('analyze', () => {
  const shared = (a: string, b: string) => analyze(a).filter((t) => analyze(b).includes(t));

  it('drops stopwords and emits a stem and a prefix key per content word', () => {
    expect(analyze('la surveillance des appels')).toEqual(['surveil', '~survei', 'appel', '~appel']);
  });

  it('makes French inflections meet on both terms', () => {
    expect(shared('surveillé', 'surveiller')).toEqual(['surveil', '~survei']);
    expect(shared('données', 'donnée')).toHaveLength(2);
  });

  it('makes French and English cognates meet on the prefix key', () => {
    expect(shared('Palestinians', 'palestiniens')).toContain('~palest');
    expect(shared('surveillance', 'surveillé')).toContain('~survei');
    expect(shared('ministry', 'ministère')).toContain('~minist');
  });

  it('does not conflate unrelated words', () => {
    expect(shared('gâteau', 'guerre')).toEqual([]);
  });
});
