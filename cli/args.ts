import { UsageError } from '../lib/errors.js';

/** A command-line flag: `--name value`, `--name=value`, or a boolean `--name`. */
export interface FlagSpec {
  readonly name: string;
  readonly kind: 'boolean' | 'string' | 'number' | 'list';
  readonly help: string;
}

export interface ParsedArgs {
  readonly flags: Map<string, string[]>;
  readonly positionals: string[];
}

/**
 * Parses argv against the command's flags. Unknown flags and missing values
 * are usage errors that name the flag. `list` flags may repeat and take
 * comma-separated values.
 */
export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[]): ParsedArgs {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const flags = new Map<string, string[]>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const spec = byName.get(name);
    if (!spec) {
      const known = specs.map((s) => `--${s.name}`).join(', ');
      throw new UsageError(`unknown flag --${name} (known: ${known || 'none'})`);
    }
    let value: string;
    if (spec.kind === 'boolean') {
      value = eq === -1 ? 'true' : arg.slice(eq + 1);
    } else if (eq !== -1) {
      value = arg.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new UsageError(`flag --${name} needs a value`);
      value = next;
      i++;
    }
    if (spec.kind === 'number' && !Number.isFinite(Number(value))) {
      throw new UsageError(`flag --${name} wants a number, got '${value}'`);
    }
    const values = spec.kind === 'list' ? value.split(',').filter((v) => v.length > 0) : [value];
    const prior = flags.get(name);
    if (prior && spec.kind !== 'list') throw new UsageError(`flag --${name} given twice`);
    flags.set(name, [...(prior ?? []), ...values]);
  }
  return { flags, positionals };
}

export function flagString(args: ParsedArgs, name: string): string | undefined {
  return args.flags.get(name)?.[0];
}

export function flagNumber(args: ParsedArgs, name: string): number | undefined {
  const v = args.flags.get(name)?.[0];
  return v === undefined ? undefined : Number(v);
}

export function flagBoolean(args: ParsedArgs, name: string): boolean {
  const v = args.flags.get(name)?.[0];
  return v !== undefined && v !== 'false' && v !== '0';
}

export function flagList(args: ParsedArgs, name: string): string[] {
  return args.flags.get(name) ?? [];
}

export function usage(command: string, summary: string, specs: readonly FlagSpec[]): string {
  const lines = specs.map((s) => `  --${s.name}${s.kind === 'boolean' ? '' : ' ' + s.kind.toUpperCase()}  ${s.help}`);
  return [`usage: pageloop ${command}`, summary, ...lines].join('\n');
}
