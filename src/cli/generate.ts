import { parseCommand, type CommandSpec, type Schema } from './args.ts';
import { loadModel, type Description } from '../model/pipeline.ts';
import { UserError } from '../util/errors.ts';
import { applyPrecision, precisionOption } from './precision.ts';

const options = {
  model: {
    type: 'string',
    help: 'model folder (config.json, model.safetensors, tokenizer.json, ...)',
    required: true,
  },
  image: {
    type: 'string',
    help: 'image file (PNG, JPEG or WebP); repeat for several, or list them after the options',
    multiple: true,
  },
  prompt: { type: 'string', help: 'start of the description; the model writes the rest' },
  'max-new-tokens': {
    type: 'integer',
    help: 'most tokens to generate',
    defaultHelp: 'generation_config.json',
    min: 0,
  },
  temperature: {
    type: 'number',
    help: 'sampling temperature (0 = greedy)',
    defaultHelp: 'generation_config.json',
    min: 0,
  },
  'top-k': { type: 'integer', help: 'sample from the k most likely tokens (0 = all)', min: 0 },
  'top-p': { type: 'number', help: 'sample from the smallest set reaching this probability (1 = all)' },
  'repetition-penalty': { type: 'number', help: 'penalise tokens already written (1 = off)' },
  seed: { type: 'integer', help: 'seed for sampling (same seed, same text)' },
  precision: precisionOption,
  json: { type: 'boolean', help: 'print one JSON object per image, one per line' },
} as const satisfies Schema;

const spec: CommandSpec<typeof options> = {
  name: 'nanovlm generate',
  summary: 'Describe images with a trained model. Several images are described together in one batch.',
  usage: 'usage: nanovlm generate --model DIR --image FILE [--image FILE ...] [--prompt TEXT] [options]',
  options,
  examples: [
    'nanovlm generate --model runs/main/checkpoints/best --image picture.png',
    'nanovlm generate --model runs/main/checkpoints/best --image picture.png --prompt "The brown dog" --temperature 0.7 --seed 1',
  ],
};

export async function run(argv: string[]): Promise<number> {
  const args = parseCommand(argv, spec, true);
  if (!args) return 0;
  const o = args.options;
  applyPrecision(o.precision);
  const images = [...o.image, ...args.positionals];
  if (images.length === 0) throw new UserError('give at least one --image FILE', 2);
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1))
    throw new UserError('--top-p must be in (0, 1]', 2);
  if (o.repetitionPenalty !== undefined && !(o.repetitionPenalty > 0))
    throw new UserError(`--repetition-penalty must be positive, got ${o.repetitionPenalty}`, 2);
  const vlm = await loadModel(o.model);
  // One image streams its tokens to a terminal as they come; a batch prints each description at the end.
  const stream = images.length === 1 && !o.json && process.stdout.isTTY;
  if (stream && o.prompt) process.stdout.write(o.prompt.trimEnd());
  const results: Description[] = await vlm.describeBatch(images, {
    prompt: o.prompt,
    maxNewTokens: o.maxNewTokens,
    temperature: o.temperature,
    topK: o.topK,
    topP: o.topP,
    repetitionPenalty: o.repetitionPenalty,
    seed: o.seed,
    onToken: stream ? (text) => process.stdout.write(text) : undefined,
  });
  if (stream) process.stdout.write('\n');
  results.forEach((d, i) => {
    if (o.json) {
      const { text, fullText, prompt, tokens, finishReason, ms, msFirstToken } = d;
      console.log(
        JSON.stringify({
          image: images[i],
          text,
          full_text: fullText,
          prompt,
          tokens,
          finish_reason: finishReason,
          ms: Math.round(ms),
          ms_first_token: Math.round(msFirstToken),
        }),
      );
    } else if (!stream) {
      console.log(images.length > 1 ? `${images[i]}: ${d.fullText.trim()}` : d.fullText.trim());
    }
  });
  return 0;
}
