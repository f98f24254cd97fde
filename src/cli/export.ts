/**
 * `nanovlm export --model CHECKPOINT --out DIR`: an inference model folder from a training checkpoint:
 * config.json, model.safetensors, tokenizer.json, generation_config.json and the model card (README.md),
 * without the optimizer state and the trainer state that only resuming needs.
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { parseCommand, type CommandSpec, type Schema } from './args.ts';
import {
  CONFIG_FILE,
  GENERATION_FILE,
  TOKENIZER_FILE,
  WEIGHTS_FILE,
  readModelFolder,
} from '../model/folder.ts';
import { TRAINER_STATE, readTrainerState, resolveCheckpoint } from '../train/checkpoint.ts';
import { MODEL_CARD, modelCard } from '../train/model-card.ts';
import type { TrainerState } from '../train/state.ts';
import { UserError } from '../util/errors.ts';
import { tempSibling } from '../util/fs.ts';

const options = {
  model: {
    type: 'string',
    help: 'a checkpoint folder, or a run folder (its best checkpoint)',
    required: true,
  },
  out: {
    type: 'string',
    help: 'the inference folder to write (must not exist, or be empty)',
    required: true,
  },
  json: { type: 'boolean', help: 'print the result as one JSON object' },
} as const satisfies Schema;

const spec: CommandSpec<typeof options> = {
  name: 'nanovlm export',
  summary:
    'Write an inference model folder from a training checkpoint: the weights, config, tokenizer, generation\n' +
    'settings and model card (README.md), without the optimizer and trainer state.',
  usage: 'usage: nanovlm export --model CHECKPOINT|RUN --out DIR [--json]',
  options,
  examples: [
    'nanovlm export --model runs/main/checkpoints/best --out models/main',
    'nanovlm export --model runs/main --out models/main-best --json',
  ],
};

const MODEL_FILES = [CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE, GENERATION_FILE];

/** A model folder is taken as it is; a run folder means its best checkpoint; else as --resume resolves it. */
function checkpointOf(p: string): string {
  if (existsSync(path.join(p, CONFIG_FILE))) return p;
  const best = path.join(p, 'checkpoints', 'best');
  if (existsSync(best)) return best;
  return resolveCheckpoint(p);
}

export async function run(argv: string[]): Promise<number> {
  const args = parseCommand(argv, spec);
  if (!args) return 0;
  const { model, out, json } = args.options;
  const from = checkpointOf(model);
  readModelFolder(from); // a complete, loadable model folder, or a clear error naming the file
  if (existsSync(out) && (!statSync(out).isDirectory() || readdirSync(out).length > 0)) {
    throw new UserError(`${out}: exists and is not an empty folder; choose a new --out`, 2);
  }
  const tmp = tempSibling(path.resolve(out));
  mkdirSync(tmp, { recursive: true });
  try {
    for (const f of MODEL_FILES) copyFileSync(path.join(from, f), path.join(tmp, f));
    if (existsSync(path.join(from, TRAINER_STATE))) {
      writeFileSync(path.join(tmp, MODEL_CARD), modelCard(readTrainerState<TrainerState>(from)));
    } else if (existsSync(path.join(from, MODEL_CARD))) {
      copyFileSync(path.join(from, MODEL_CARD), path.join(tmp, MODEL_CARD));
    }
    if (existsSync(out)) rmdirSync(out); // empty (checked above)
    renameSync(tmp, out);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  const files = readdirSync(out).sort();
  const bytes = files.reduce((n, f) => n + statSync(path.join(out, f)).size, 0);
  if (json) console.log(JSON.stringify({ from, out, files, bytes }));
  else console.log(`exported ${from} to ${out}: ${files.join(', ')} (${(bytes / 1e6).toFixed(1)} MB)`);
  return 0;
}
