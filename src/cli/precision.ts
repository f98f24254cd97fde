/** The `--precision` option of train, generate and serve (src/tensor/precision.ts says what it does). */
import { setPrecision, type PrecisionChoice, type PrecisionInfo } from '../tensor/precision.ts';

export const precisionOption = {
  type: 'string',
  help: 'matrix products in fp32, bf16 (fp32 sums, fp32 weights) or auto (bf16 where the CPU has a bf16 engine)',
  choices: ['fp32', 'bf16', 'auto'],
  default: 'fp32',
} as const;

/** Sets the precision; a bf16 request this CPU cannot honour is said on stderr (the run goes on in fp32). */
export function applyPrecision(choice: string, quiet = false): PrecisionInfo {
  const info = setPrecision(choice as PrecisionChoice);
  if (!quiet && info.asked === 'bf16' && info.precision !== 'bf16')
    console.error(`nanovlm: products in ${info.note}`);
  return info;
}
