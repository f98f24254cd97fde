/**
 * Words for the plain and two-tone backgrounds of the free layout: what the adult captions and the child's
 * descriptions say about the setting. Null for every other background, whose words are fixed tables.
 */
import type { Scene } from '../types.ts';

export interface PlainWords {
  /** Adult noun phrases: "a plain blue background". */
  np: string[];
  /** Adult place phrases: "on a plain blue background". */
  on: string[];
  /** The child's place of a thing: "on the blue background". */
  place: string[];
  /** The child's sentence about the background alone: "the top is blue and the bottom is green". */
  setting: string[];
}

export function plainWords(scene: Scene): PlainWords | null {
  const p = scene.plain;
  if (!p) return null;
  if (p.colours.length === 1) {
    const [c] = p.colours;
    return {
      np: [`a plain ${c} background`, `a solid ${c} background`, `a flat ${c} backdrop`],
      on: [`on a plain ${c} background`, `against a solid ${c} background`, `on a ${c} background`],
      place: [`on the ${c} background`, `in front of the ${c} background`, `on the plain ${c} background`],
      setting: [`the background is all ${c}`, `the whole background is ${c}`, `behind everything it is just ${c}`],
    };
  }
  const [a, b] = p.colours;
  const halves =
    p.split === 'across'
      ? [`the top is ${a} and the bottom is ${b}`, `the background is ${a} at the top and ${b} at the bottom`]
      : [`the left side is ${a} and the right side is ${b}`, `the background is ${a} on the left and ${b} on the right`];
  return {
    np: [`a ${a} and ${b} background`, `a two-tone ${a} and ${b} background`],
    on: [`on a ${a} and ${b} background`, `against a ${a} and ${b} background`, `on a two-tone ${a} and ${b} background`],
    place: [`on the ${a} and ${b} background`, `in front of the ${a} and ${b} background`],
    setting: [...halves, `the background has two colors, ${a} and ${b}`],
  };
}

/** On a plain background a flier is simply up in the air: there is no sky to name. */
export const PLAIN_AIR = ['in the air', 'up in the air'];
