import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs, formatHelp, type CommandSpec, type Schema } from './args.ts';
import { applyOverrides } from '../util/overrides.ts';
import {
  countFlops,
  countParams,
  isPresetName,
  presetConfig,
  validateConfig,
  type ModelConfig,
} from '../model/config.ts';
import { readJson } from '../util/fs.ts';
import { UserError } from '../util/errors.ts';
import { precisionInfo, withPrecision } from '../tensor/precision.ts';

const options = {
  model: { type: 'string', help: 'a preset name, a model folder, or a config.json', default: 'mini' },
  'text-len': {
    type: 'integer',
    help: 'text tokens (BOS + text + EOS) assumed for FLOPs',
    defaultHelp: "the model's max_text_len",
  },
  json: { type: 'boolean', help: 'print one JSON object' },
} as const satisfies Schema;

const spec: CommandSpec<typeof options> = {
  name: 'nanovlm info',
  summary:
    'Parameter counts per part (vision / connector / decoder), their shares, and FLOPs per training sample.',
  usage: 'usage: nanovlm info --model mini|base|large|tiny|DIR|config.json [--json] [--key=value ...]',
  options,
  allowExtra: true,
  examples: [
    'nanovlm info --model mini',
    'nanovlm info --model base --json',
    'nanovlm info --model runs/main/checkpoints/best',
    'nanovlm info --model mini --image_tokens=all',
  ],
};

/** A preset name, a model folder (its config.json) or a config file. */
export function resolveModelConfig(model: string): ModelConfig {
  if (isPresetName(model)) return presetConfig(model);
  let file = model;
  if (existsSync(model) && statSync(model).isDirectory()) file = path.join(model, 'config.json');
  if (!existsSync(file))
    throw new UserError(`--model: "${model}" is neither a preset (tiny, mini, base, large) nor a file`, 2);
  return validateConfig(readJson(file), file);
}

const millions = (n: number) => `${(n / 1e6).toFixed(2)}M`;

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv, spec);
  if (args.help) {
    console.log(formatHelp(spec as unknown as CommandSpec<Schema>));
    return 0;
  }
  const config = validateConfig(
    applyOverrides(resolveModelConfig(args.options.model), args.extra),
    'overrides',
  );
  const params = countParams(config);
  const textLen = args.options.textLen ?? config.max_text_len;
  if (textLen < 2 || textLen > config.max_text_len)
    throw new UserError(`--text-len must be between 2 and max_text_len (${config.max_text_len})`, 2);
  const flops = countFlops(config, textLen);
  const share = (n: number) => Math.round((1000 * n) / params.total) / 10;
  // What --precision auto picks on this machine (and the bf16 engine, if any).
  const auto = withPrecision('auto', precisionInfo);
  const shares = {
    vision: share(params.vision),
    connector: share(params.connector),
    decoder: share(params.decoder),
  };
  if (args.options.json) {
    console.log(
      JSON.stringify({
        model: config.preset,
        params,
        shares,
        flops_per_sample: flops.trainingPerSample,
        forward_flops: flops.forward,
        text_len: textLen,
        image_tokens: config.image_tokens,
        precision_auto: auto.precision,
        bf16_engine: auto.engine,
      }),
    );
    return 0;
  }
  const rows: [string, number][] = [
    ['vision', params.vision],
    ['connector', params.connector],
    ['decoder', params.decoder],
  ];
  console.log(
    `model ${config.preset}: ${millions(params.total)} parameters (${params.total.toLocaleString('en-US')})`,
  );
  for (const [name, n] of rows) {
    console.log(`  ${name.padEnd(10)} ${millions(n).padStart(8)}  ${share(n).toFixed(1).padStart(5)} %`);
  }
  console.log(
    `FLOPs per training sample (forward + backward, ${textLen} text tokens, image tokens: ${config.image_tokens}): ` +
      `${(flops.trainingPerSample / 1e9).toFixed(2)} GFLOP`,
  );
  console.log(`matrix products with --precision auto on this machine: ${auto.note}`);
  return 0;
}
