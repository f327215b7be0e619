import { describe, expect, it } from 'vitest';
import { canAnswer, expectedAnswer } from '../../../src/rag/answer/question-type.js';

describe('expectedAnswer', () => {
  it.each([
    ['Quand Azure a-t-il été lancé ?', 'time'],
    ['When did it happen?', 'time'],
    ['À quelle date la décision a-t-elle été prise ?', 'time'],
    ['Depuis combien de temps dure le conflit ?', 'duration'],
    ['How long has the war lasted?', 'duration'],
    ["Combien d'argent Microsoft perd-il ?", 'money'],
    ['What is the contract worth?', 'money'],
    ['Quel est le montant du contrat ?', 'money'],
    ['How many people were affected?', 'quantity'],
    ['Combien de services sont suspendus ?', 'quantity'],
    ["C'est quoi le titre de l'article ?", 'title'],
    ["What's the headline?", 'title'],
    ['Pourquoi Microsoft a-t-il suspendu ses services ?', 'any'],
    ['Who is Brad Smith?', 'any'],
  ])('classifies %j as %s', (question, type) => {
    expect(expectedAnswer(question)).toBe(type);
  });
});

describe('canAnswer', () => {
  it('wants a date for a time question', () => {
    expect(canAnswer('Microsoft a récemment pris une décision.', 'time')).toBe(false);
    expect(canAnswer('La décision a été annoncée le 25 septembre 2025.', 'time')).toBe(true);
  });
  it('wants a length of time for a duration question', () => {
    expect(canAnswer('en près de deux ans de conflit', 'duration')).toBe(true);
    expect(canAnswer('depuis le début du conflit', 'duration')).toBe(false);
  });
  it('wants an amount for a money question and a number for a quantity question', () => {
    expect(canAnswer('Le contrat vaut 10 millions de dollars.', 'money')).toBe(true);
    expect(canAnswer('Le contrat est important.', 'money')).toBe(false);
    expect(canAnswer('La majorité des Américains pensent que…', 'quantity')).toBe(true);
    expect(canAnswer('Une entreprise a pris une décision.', 'quantity')).toBe(false);
  });
});
