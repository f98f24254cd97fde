/**
 * The model card: the README.md of every model folder training writes (and `nanovlm export` copies), in
 * the spirit of Hugging Face's: what the model is, what it was trained on and how, what it measured, and
 * what it is for. Built from a checkpoint's trainer state, so it says only what the run recorded.
 */
import { countParams } from '../model/config.ts';
import type { TrainerState } from './state.ts';

export const MODEL_CARD = 'README.md';

const millions = (n: number) => `${(n / 1e6).toFixed(2)}M`;
const fixed = (v: number | null, digits = 3) => (v === null ? 'not measured yet' : v.toFixed(digits));

export function modelCard(state: TrainerState): string {
  const { model: m, train: t } = state.config;
  const p = countParams(m);
  const preset = m.preset || 'custom';
  const minutes = state.trainSeconds / 60;
  return [
    `# nanovlm-${preset}`,
    '',
    `A tiny vision-language model (NanoVLM, arXiv 2502.07838) trained from scratch with nanovlm: it describes a`,
    `picture in the simple words a young child uses, or completes a description that was started.`,
    '',
    '## Model',
    '',
    `| preset | parameters | vision / connector / decoder | image size | vision tokens | decoder | vocabulary |`,
    `| --- | --- | --- | --- | --- | --- | --- |`,
    `| ${preset} | ${millions(p.total - p.wordHead)} | ${millions(p.vision)} / ${millions(p.connector)} / ${millions(p.decoder)} | ` +
      `${m.image_size} px | ${m.image_tokens} | ${m.n_layer} layers, ${m.n_head} heads, ${m.n_embd} wide | ${m.vocab_size} |`,
    '',
    '## Training',
    '',
    `- Data: \`${t.data}\`, learning the ${t.text === 'both' ? 'ShortDesc and LongDesc' : t.text === 'long' ? 'LongDesc' : 'ShortDesc'} texts.`,
    `- Recipe: AdamW, batches of ${t.batchSize}${t.gradAccum > 1 ? ` (× ${t.gradAccum} accumulated)` : ''}, peak learning rate ${t.lr}` +
      ` (cosine to ${t.minLr}, ${t.warmupSteps} warm-up steps), weight decay ${t.weightDecay}, vision and connector at` +
      ` ${t.visionLrScale} × the decoder's rate, dropout ${m.dropout}, seed ${t.seed}.`,
    `- This checkpoint: step ${state.step}${state.totalSteps ? ` of ${state.totalSteps}` : ''}, ${state.samplesSeen} samples` +
      ` (epoch ${state.epoch}), ${minutes.toFixed(1)} minutes on the ${state.backend.name} backend with ${state.backend.threads} threads.`,
    '',
    '## Measured',
    '',
    `| validation loss (last) | best validation loss | image gain (last) |`,
    `| --- | --- | --- |`,
    `| ${fixed(state.lastValLoss)} | ${fixed(state.bestValLoss)}${state.bestStep !== null ? ` (step ${state.bestStep})` : ''} | ${fixed(state.lastImageGain)} |`,
    '',
    'The image gain is the validation loss with each text paired with another picture minus the real one:',
    'near 0 means the model ignores the picture. `nanovlm eval auto` measures object recall and precision,',
    "ROUGE, memorisation and grammar; `nanovlm eval complete` and `judge` give the paper's LLM grades.",
    '',
    '## Intended use and limits',
    '',
    '- For learning and research on small vision-language models, on a CPU. Not for any decision that',
    '  matters: descriptions are often wrong about what is in a picture, how many, and where.',
    '- It knows only what its data shows (the built-in scenes: cartoon artwork of a few hundred kinds of',
    '  things on plain backgrounds); on photographs it describes what it knows, not what is there.',
    '- It answers no questions and follows no instructions: it only describes.',
    '',
    '## Use',
    '',
    '```sh',
    'nanovlm generate --model DIR --image picture.png',
    'nanovlm serve --model DIR',
    '```',
    '',
    'Files: `config.json`, `model.safetensors` (float32), `tokenizer.json` (byte-level BPE) and',
    "`generation_config.json`, in Hugging Face's layout.",
    '',
  ].join('\n');
}
