/**
 * GPT-2's pre-tokenizer: contractions, words with one optional leading space, numbers, runs of other
 * symbols, and whitespace (a run of spaces before a word gives its last space to the word). This is the
 * exact pattern `@huggingface/tokenizers` uses for a ByteLevel pre_tokenizer with use_regex = true, so a
 * saved tokenizer.json reads the same in both. Every character falls in one branch, so the pieces always
 * concatenate back to the input.
 */
export const GPT2_SPLIT_PATTERN =
  /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

export function preTokenize(text: string): string[] {
  return text.match(GPT2_SPLIT_PATTERN) ?? [];
}
