/** `key=value` settings (from the command line) laid over a typed config object. */
import { UserError } from './errors.ts';

/** kebab-case to camelCase: `--warmup-steps` names `warmupSteps`. */
export const camel = (s: string): string => s.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
/** A setting as the command line spells it: batchSize → --batch-size (model.image_size stays as it is). */
export const flagName = (key: string): string => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/**
 * Applies `key=value` overrides to a config object, keeping each field's type. Unknown keys and wrong
 * types are rejected with a message naming the key. Nested fields use dots: `optim.lr=3e-4`.
 */
export function applyOverrides<T extends object>(
  config: T,
  overrides: [string, string][],
  where = 'config',
): T {
  const out = structuredClone(config) as Record<string, unknown>;
  for (const [key, raw] of overrides) {
    const parts = key.split('.');
    let obj: Record<string, unknown> = out;
    for (const p of parts.slice(0, -1)) {
      const next = obj[p] ?? obj[camel(p)];
      if (typeof next !== 'object' || next === null) throw new UserError(`${where}: unknown key "${key}"`, 2);
      obj = next as Record<string, unknown>;
    }
    const last = parts[parts.length - 1]!;
    const field = last in obj ? last : camel(last) in obj ? camel(last) : null;
    if (field === null) {
      throw new UserError(`${where}: unknown key "${key}" (known: ${Object.keys(obj).join(', ')})`, 2);
    }
    const current = obj[field];
    if (typeof current === 'number') {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n))
        throw new UserError(`${where}: ${flagName(key)} must be a number, got "${raw}"`, 2);
      if (
        Number.isInteger(current) &&
        !Number.isInteger(n) &&
        !/[.eE]/.test(String(current)) &&
        /^(n_|num|max|batch|steps|seed)/.test(last)
      ) {
        throw new UserError(`${where}: ${flagName(key)} must be an integer, got "${raw}"`, 2);
      }
      obj[field] = n;
    } else if (typeof current === 'boolean') {
      if (!['true', 'false'].includes(raw))
        throw new UserError(`${where}: ${flagName(key)} must be true or false, got "${raw}"`, 2);
      obj[field] = raw === 'true';
    } else if (typeof current === 'string' || current === null) {
      obj[field] = raw;
    } else {
      throw new UserError(`${where}: ${flagName(key)} is not a plain value and cannot be overridden`, 2);
    }
  }
  return out as T;
}
