export { Tokenizer, StreamDecoder, SPECIAL_TOKENS, BYTE_ID_OFFSET } from './tokenizer.ts';
export type { EncodeOptions, DecodeOptions } from './tokenizer.ts';
export { trainTokenizer, countPieces, MIN_VOCAB_SIZE, MAX_VOCAB_SIZE } from './train.ts';
export type { TrainOptions } from './train.ts';
export { preTokenize, GPT2_SPLIT_PATTERN } from './pretokenize.ts';
export type { HfTokenizerJSON } from './hf-json.ts';
