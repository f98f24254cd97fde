/**
 * The judge prompts. Two protocols:
 * - `nanovlms`: the NanoVLMs paper's Prompt 3, verbatim, with the beginning and the completed text;
 * - `tinystories`: the style of TinyStories' judge (Eldan & Li, 2023): the split between the given
 *   beginning and the student's part is marked with `***`; the judge first writes a free assessment
 *   of the student's part, then gives grades and the writer's likely age group.
 * Both ask for the five grades (1-10) and the age group (A-F) as one JSON object, with the assessment
 * first so that, as in TinyStories, the judge reasons before it grades.
 *
 * PROMPT_VERSION changes whenever any prompt text changes: it is stored in every graded line and is part
 * of the cache key, so old answers are never mixed with new prompts.
 */
import type { ChatMessage } from '../llm/content.ts';
import { joinPrefix } from './text.ts';

export const PROTOCOLS = ['nanovlms', 'tinystories'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export const PROMPT_VERSION: Record<Protocol, string> = {
  nanovlms: 'nanovlms-p3-v1',
  tinystories: 'tinystories-v1',
};

/** The paper's Prompt 3 (NanoVLMs, arXiv 2502.07838). */
export const NANOVLMS_PROMPT_3 =
  'In the following exercise, the student is given a beginning of a text. The student needs to complete ' +
  "the partially completed text. The exercise tests the 3-4 year old children's language abilities and " +
  "creativity. Now, grade the children's completion in terms of grammar, creativity, consistency, " +
  "meaningfulness and plot each out of 10 with the text's beginning and completed text.";

const AGE_GROUP_QUESTION =
  'Also give your best guess of the age group of the writer, as shown by the completion. ' +
  'Choose one of: A: 3 or under. B: 4-5. C: 6-7. D: 8-9. E: 10-12. F: 13-16.';

const JSON_FORMAT =
  'Reply with one JSON object and nothing else, in this form: ' +
  '{"assessment": "<your assessment in one to three sentences>", "grammar": <1-10>, "creativity": <1-10>, ' +
  '"consistency": <1-10>, "meaningfulness": <1-10>, "plot": <1-10>, "age_group": "<A-F>"}';

/** The request's messages for one completion. */
export function judgeMessages(protocol: Protocol, prefix: string, completion: string): ChatMessage[] {
  const full = joinPrefix(prefix, completion);
  if (protocol === 'nanovlms') {
    const text = [
      NANOVLMS_PROMPT_3,
      '',
      `The text's beginning: ${prefix.trim()}`,
      `The completed text: ${full}`,
      '',
      AGE_GROUP_QUESTION,
      JSON_FORMAT,
    ].join('\n');
    return [{ role: 'user', content: text }];
  }
  // The student's part starts right after ***, so a sentence split in the middle shows as such.
  const student =
    full.slice(0, prefix.trim().length) === prefix.trim()
      ? full.slice(prefix.trim().length)
      : ` ${completion}`;
  const text = [
    'In the following exercise, the student is given the beginning of a description of a picture and has to ' +
      "finish it. The exercise tests the student's language abilities and creativity. The symbol *** marks " +
      "where the given beginning ends and the student's own writing begins.",
    '',
    `${prefix.trim()}***${student}`,
    '',
    'First, give your general assessment of the part the student wrote (after ***). Is it grammatically ' +
      'correct? Is it consistent with the beginning? Pay special attention to whether the student manages ' +
      'to finish the sentence that the *** splits in the middle.',
    "Then grade the student's part in terms of grammar, creativity, consistency with the beginning, " +
      'meaningfulness, and whether the plot makes sense, each out of 10.',
    AGE_GROUP_QUESTION,
    JSON_FORMAT,
  ].join('\n');
  return [{ role: 'user', content: text }];
}

/** The follow-up turn when an answer could not be read. */
export function reaskMessage(reason: string): ChatMessage {
  return {
    role: 'user',
    content: `Your answer could not be read (${reason}). ${JSON_FORMAT}`,
  };
}
