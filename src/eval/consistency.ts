/**
 * Consistency: whether a description contradicts itself (or, when the picture's contents are known, the
 * picture's numbers). A text is consistent when none of these is found:
 * - count conflict: one thing named with two different numbers ("two dogs ... a dog ... three dogs");
 *   a mention after "other", "another", "each" or "every" states no number of the group, and with such
 *   a mention about, neither does a single one ("one cat is orange and the other cat is white");
 * - self relation: a thing related to itself in one clause ("a moon watches over a moon", "the dog is
 *   next to the dog"): two mentions of the same thing with no other thing, no clause break ("and", a
 *   comma, ...) and no "another"/"other" between them;
 * - wrong count (only with the picture's contents): a stated number of a thing in the picture that the
 *   picture does not have ("three cats" where there are two). Things not in the picture are precision's
 *   business, not consistency's.
 * The share of consistent texts is reported with and without the picture check (`selfShare`: the first
 * two kinds only, which need no picture).
 */
import { tokenize, type Mention, type ObjectMatcher } from './objects.ts';

export type ContradictionKind = 'countConflict' | 'selfRelation' | 'wrongCount';

export interface Contradiction {
  kind: ContradictionKind;
  name: string;
  detail: string;
}

export interface ConsistencyTotals {
  texts: number;
  /** Texts with none of the contradictions. */
  consistent: number;
  share: number;
  /** Share of texts without count conflicts and self relations (needs no picture). */
  selfShare: number;
  /** Texts with at least one contradiction of each kind. */
  byKind: Record<ContradictionKind, number>;
}

/** Words that end a clause: a second mention after one of them is a new statement, not a relation. */
const CLAUSE_BREAKS = new Set(['and', 'but', 'or', 'so', 'because', 'while', 'then', 'when', 'if']);
/** Words before a mention that make it a different member of a group, not a count of it. */
const DISTRIBUTIVE = new Set(['other', 'another', 'each', 'every', 'either', 'neither']);

/** Every contradiction in one text; `present` (name → count) enables the picture check. */
export function contradictions(
  text: string,
  matcher: ObjectMatcher,
  present?: ReadonlyMap<string, number>,
): Contradiction[] {
  const tokens = tokenize(text);
  const mentions = matcher.mentions(text);
  const out: Contradiction[] = [];
  const distributive = (m: Mention) => {
    for (let j = m.at - 1; j >= Math.max(0, m.at - 3); j--) {
      const w = tokens[j]?.word;
      if (!w) return false;
      if (DISTRIBUTIVE.has(w)) return true;
    }
    return false;
  };

  // "one cat is orange and the other cat is white": with "other" about, a single one is one of a group.
  const grouped = new Set(mentions.filter(distributive).map((m) => m.name));
  const counts = new Map<string, Set<number>>();
  for (const m of mentions) {
    if (m.count === null || distributive(m) || (m.count === 1 && grouped.has(m.name))) continue;
    const set = counts.get(m.name) ?? new Set<number>();
    set.add(m.count);
    counts.set(m.name, set);
  }
  for (const [name, set] of counts) {
    if (set.size > 1) {
      out.push({ kind: 'countConflict', name, detail: `named as ${[...set].sort().join(' and ')}` });
    }
    const truth = present?.get(name);
    if (truth !== undefined) {
      const wrong = [...set].filter((n) => n !== truth);
      if (wrong.length) {
        out.push({
          kind: 'wrongCount',
          name,
          detail: `says ${wrong.join(' and ')}, the picture has ${truth}`,
        });
      }
    }
  }

  const related = new Set<string>();
  for (let k = 1; k < mentions.length; k++) {
    const a = mentions[k - 1]!;
    const b = mentions[k]!;
    if (a.name !== b.name || related.has(a.name) || distributive(b)) continue;
    let sameClause = true;
    for (let j = a.at + a.name.split(' ').length; j < b.at; j++) {
      const w = tokens[j]!.word;
      if (w === null || CLAUSE_BREAKS.has(w)) {
        sameClause = false;
        break;
      }
    }
    if (sameClause) {
      related.add(a.name);
      const words = tokens
        .slice(a.at, b.at + 1)
        .map((t) => t.word)
        .join(' ');
      out.push({ kind: 'selfRelation', name: a.name, detail: `"${words}..."` });
    }
  }
  return out;
}

/** Pools the contradictions of many texts (each with the things in its picture, when known). */
export function consistencyOf(
  texts: readonly { text: string; present?: ReadonlyMap<string, number> }[],
  matcher: ObjectMatcher,
): ConsistencyTotals {
  const byKind: Record<ContradictionKind, number> = { countConflict: 0, selfRelation: 0, wrongCount: 0 };
  let consistent = 0;
  let selfConsistent = 0;
  for (const t of texts) {
    const found = new Set(contradictions(t.text, matcher, t.present).map((c) => c.kind));
    for (const k of found) byKind[k]++;
    if (!found.size) consistent++;
    if (!found.has('countConflict') && !found.has('selfRelation')) selfConsistent++;
  }
  const n = texts.length;
  return {
    texts: n,
    consistent,
    share: n ? consistent / n : 0,
    selfShare: n ? selfConsistent / n : 0,
    byKind,
  };
}
