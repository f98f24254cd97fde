/**
 * Token prices in US dollars per million tokens, for cost estimates. Matched by the longest model-name
 * prefix (`gpt-4o-2024-08-06` → `gpt-4o`); override or extend with your own table.
 * Figures are list prices at the time of writing; check your provider's page before trusting a total.
 */
export interface Price {
  /** USD per 1M prompt (input) tokens. */
  input: number;
  /** USD per 1M completion (output) tokens. */
  output: number;
}
export type PriceTable = Record<string, Price>;

export const DEFAULT_PRICES: PriceTable = {
  'gpt-4o': { input: 2.5, output: 10 },
  'gpt-4o-mini': { input: 0.15, output: 0.6 },
  'gpt-4.1': { input: 2, output: 8 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4 },
  'gpt-4-turbo': { input: 10, output: 30 },
  'gpt-4': { input: 30, output: 60 },
  'gpt-3.5-turbo': { input: 0.5, output: 1.5 },
};

export function priceFor(model: string, table: PriceTable = DEFAULT_PRICES): Price | undefined {
  let best: string | undefined;
  for (const name of Object.keys(table)) {
    if ((model === name || model.startsWith(name + '-')) && (!best || name.length > best.length)) best = name;
  }
  return best ? table[best] : undefined;
}

export function costUsd(promptTokens: number, completionTokens: number, price: Price | undefined): number {
  if (!price) return 0;
  return (promptTokens * price.input + completionTokens * price.output) / 1e6;
}
