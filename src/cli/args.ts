import { UserError } from '../util/errors.ts';
import { fileSystemError } from '../util/fs.ts';
import { camel } from '../util/overrides.ts';

/** One command-line option. Names are kebab-case on the command line and camelCase in the result. */
export interface OptionSpec {
  type: 'string' | 'number' | 'integer' | 'boolean';
  help: string;
  default?: string | number | boolean;
  /** The default in words when it is not one value (`<data>/tokenizer.json`); help shows it as `default` is. */
  defaultHelp?: string;
  choices?: readonly string[];
  /** Smallest and largest value of a number (checked with the other usage errors, before any work). */
  min?: number;
  max?: number;
  required?: boolean;
  /** Option may be given several times; the value is an array. */
  multiple?: boolean;
}
export type Schema = Record<string, OptionSpec>;

type ValueOf<O extends OptionSpec> = O['type'] extends 'boolean'
  ? boolean
  : O['type'] extends 'string'
    ? string
    : number;
export type Options<S extends Schema> = {
  [K in keyof S as CamelCase<K & string>]: S[K]['multiple'] extends true
    ? ValueOf<S[K]>[]
    : S[K]['default'] extends string | number | boolean
      ? ValueOf<S[K]>
      : S[K]['required'] extends true
        ? ValueOf<S[K]>
        : ValueOf<S[K]> | undefined;
};
type CamelCase<S extends string> = S extends `${infer A}-${infer B}` ? `${A}${Capitalize<CamelCase<B>>}` : S;

export interface CommandSpec<S extends Schema> {
  /** e.g. "nanovlm train" */
  name: string;
  summary: string;
  usage?: string;
  options: S;
  /** Accept `--key=value` pairs not in the schema; they are returned in `extra` (config overrides). */
  allowExtra?: boolean;
  /** Whole command lines shown under "examples:" (test/cli/documented-commands runs each one). */
  examples?: readonly string[];
}

export interface Parsed<S extends Schema> {
  options: Options<S>;
  positionals: string[];
  /** Unknown `--key=value` pairs, in order, when the command allows them. */
  extra: [string, string][];
  help: boolean;
}

function convert(name: string, spec: OptionSpec, raw: string): string | number | boolean {
  switch (spec.type) {
    case 'boolean':
      if (['true', '1', 'yes'].includes(raw)) return true;
      if (['false', '0', 'no'].includes(raw)) return false;
      throw new UserError(`--${name}: expected true or false, got "${raw}"`, 2);
    case 'number':
    case 'integer': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n))
        throw new UserError(`--${name}: expected a number, got "${raw}"`, 2);
      if (spec.type === 'integer' && !Number.isInteger(n))
        throw new UserError(`--${name}: expected an integer, got "${raw}"`, 2);
      if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
        const range =
          spec.max === undefined
            ? `at least ${spec.min}`
            : spec.min === undefined
              ? `at most ${spec.max}`
              : `from ${spec.min} to ${spec.max}`;
        throw new UserError(`--${name} must be ${range}, got ${raw}`, 2);
      }
      return n;
    }
    default:
      if (spec.choices && !spec.choices.includes(raw))
        throw new UserError(`--${name}: expected one of ${spec.choices.join(', ')}, got "${raw}"`, 2);
      return raw;
  }
}

/** Parses argv against a schema: unknown options, wrong types and missing required options are usage errors. */
export function parseArgs<S extends Schema>(argv: string[], spec: CommandSpec<S>): Parsed<S> {
  const values: Record<string, unknown> = {};
  const positionals: string[] = [];
  const extra: [string, string][] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-h' || arg === '--help') {
      help = true;
      continue;
    }
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    let name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    let raw: string | undefined = eq >= 0 ? arg.slice(eq + 1) : undefined;
    let opt = spec.options[name];
    if (
      !opt &&
      name.startsWith('no-') &&
      spec.options[name.slice(3)]?.type === 'boolean' &&
      raw === undefined
    ) {
      name = name.slice(3);
      opt = spec.options[name];
      raw = 'false';
    }
    if (!opt) {
      if (spec.allowExtra && raw !== undefined) {
        extra.push([name, raw]);
        continue;
      }
      const known = Object.keys(spec.options).map((k) => `--${k}`);
      throw new UserError(`unknown option --${name} (known: ${known.join(', ') || 'none'})`, 2);
    }
    if (raw === undefined) {
      if (opt.type === 'boolean') raw = 'true';
      else {
        const next = argv[i + 1];
        if (next === undefined || next.startsWith('--'))
          throw new UserError(`--${name}: a value is required`, 2);
        raw = next;
        i++;
      }
    }
    const v = convert(name, opt, raw);
    const key = camel(name);
    if (opt.multiple) ((values[key] ??= []) as unknown[]).push(v);
    else values[key] = v;
  }
  for (const [name, opt] of Object.entries(spec.options)) {
    const key = camel(name);
    if (values[key] === undefined) {
      if (opt.multiple) values[key] = [];
      else if (opt.default !== undefined) values[key] = opt.default;
      else if (opt.required && !help) throw new UserError(`--${name} is required`, 2);
    }
  }
  return { options: values as Options<S>, positionals, extra, help };
}

export function formatHelp(spec: CommandSpec<Schema>): string {
  const lines = [`${spec.usage ?? `usage: ${spec.name} [options]`}`, '', spec.summary, '', 'options:'];
  for (const [name, opt] of Object.entries(spec.options)) {
    const value = opt.type === 'boolean' ? '' : ` <${opt.choices ? opt.choices.join('|') : opt.type}>`;
    lines.push(`  --${name}${value}`.padEnd(34) + ` ${opt.help}${defaultNote(name, opt)}`);
  }
  lines.push(`  --help`.padEnd(34) + ' show this help');
  if (spec.allowExtra)
    lines.push('', '  --key=value                       override a config field (type-checked)');
  if (spec.examples?.length) lines.push('', 'examples:', ...spec.examples.map((e) => `  ${e}`));
  return lines.join('\n');
}

/**
 * How every help line ends: `(required)`, `(default: VALUE)`, or nothing. A flag is off unless given, so
 * only a flag that is on by default says so, with the way to turn it off.
 */
function defaultNote(name: string, opt: OptionSpec): string {
  if (opt.required) return ' (required)';
  if (opt.type === 'boolean') return opt.default === true ? ` (default: on; --no-${name} turns it off)` : '';
  const def = opt.defaultHelp ?? opt.default;
  return def !== undefined ? ` (default: ${def})` : '';
}

/** A command made of subcommands (`nanovlm data scenes ...`). */
export type Subcommands = Record<string, { summary: string; run: (argv: string[]) => Promise<number> }>;

export function subcommandOverview(command: string, subs: Subcommands, epilog: string[] = []): string {
  const rows = Object.entries(subs).map(([n, c]) => `  ${n.padEnd(10)} ${c.summary}`);
  return [
    `usage: ${command} <subcommand> [options]   (${command} <subcommand> --help)`,
    '',
    'subcommands:',
    ...rows,
    ...(epilog.length ? ['', ...epilog] : []),
  ].join('\n');
}

/** Runs the subcommand named by argv[0]; no name prints the overview (exit 2), --help prints it (exit 0). */
export async function runSubcommand(
  command: string,
  subs: Subcommands,
  argv: string[],
  epilog: string[] = [],
): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '--help' || sub === '-h') {
    console.log(subcommandOverview(command, subs, epilog));
    return sub ? 0 : 2;
  }
  const cmd = subs[sub];
  if (!cmd)
    throw new UserError(`unknown subcommand "${sub}"\n\n${subcommandOverview(command, subs, epilog)}`, 2);
  try {
    return await cmd.run(rest);
  } catch (caught) {
    throw withCommand(caught, `${command} ${sub}`);
  }
}

/**
 * The error a command ends with, as the CLI prints it: a UserError (a failed file operation becomes one)
 * that knows its command, so every message of `nanovlm data scenes` starts with that, whichever layer
 * threw it. Other errors are returned unchanged.
 */
export function withCommand(caught: unknown, command: string): unknown {
  const e = fileSystemError(caught) ?? caught;
  if (e instanceof UserError) e.command ??= command;
  return e;
}

/** The line(s) printed for a UserError: its command, then its message. */
export function errorText(e: UserError, fallbackCommand: string): string {
  const command = e.command ?? fallbackCommand;
  return e.message.startsWith(`${command}: `) ? e.message : `${command}: ${e.message}`;
}

/**
 * parseArgs for a command body: prints the help and returns null on --help; rejects positional
 * arguments unless the command takes them.
 */
export function parseCommand<S extends Schema>(
  argv: string[],
  spec: CommandSpec<S>,
  allowPositionals = false,
): { options: Options<S>; positionals: string[]; extra: [string, string][] } | null {
  const parsed = parseArgs(argv, spec);
  if (parsed.help) {
    console.log(formatHelp(spec as unknown as CommandSpec<Schema>));
    return null;
  }
  if (parsed.positionals.length && !allowPositionals)
    throw new UserError(`unexpected argument "${parsed.positionals[0]}"`, 2);
  return { options: parsed.options, positionals: parsed.positionals, extra: parsed.extra };
}
