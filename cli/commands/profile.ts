import { existsSync } from 'node:fs';
import type { Command } from '../command.js';
import { flagBoolean, flagNumber, flagString, parseArgs, usage, type FlagSpec } from '../args.js';
import { UsageError } from '../../lib/errors.js';
import { formatMappingName, nameMappings, nameOf, readMaps, type NamedVma } from '../../feedback/mappings.js';
import { loadJsonFile, validateProfile } from '../../schemas/validate.js';
import type { HintAction } from '../../schemas/derived.js';
import { DEFAULT_HINT_MAP_PIN, HINT_MAP_ACTION, openHintMap, type HintMapEntry } from '../../bpf/hint-map.js';
import { loadAddon } from '../../bpf/native.js';
import { feedbackConfig } from '../../feedback/config.js';
import { createEnforcer } from '../../feedback/enforcer.js';
import { profileHints } from '../../feedback/profile.js';
import { readProcessFacts } from '../../feedback/process.js';
import { REGION_BYTES, hex, startTicksOf, USER_HZ } from '../../feedback/policy.js';
import { readBootId } from '../../lib/procfs.js';
import { POLICY_FLAGS, policyFromArgs } from './feedback.js';

const loadFlags: FlagSpec[] = [
  { name: 'pid', kind: 'number', help: 'the process to apply the profile to' },
  ...POLICY_FLAGS,
  { name: 'json', kind: 'boolean', help: 'print each action record as JSON' },
  { name: 'help', kind: 'boolean', help: 'this text' },
];

const showFlags: FlagSpec[] = [
  { name: 'pid', kind: 'number', help: 'the process whose hints to show' },
  { name: 'hint-map', kind: 'string', help: `where the hint map is pinned (default ${DEFAULT_HINT_MAP_PIN})` },
  { name: 'json', kind: 'boolean', help: 'print the entries as JSON' },
  { name: 'help', kind: 'boolean', help: 'this text' },
];

const SUMMARY = 'Region profiles without the pipeline: load one into the hint map and act on it, or show what the map holds for a process.';

function pidFlag(value: number | undefined): number {
  if (value === undefined) throw new UsageError('--pid is required');
  if (!Number.isInteger(value) || value <= 0 || value > 2 ** 31) throw new UsageError(`--pid: '${value}' is not a process id`);
  return value;
}

function actionLine(a: HintAction): string {
  const r = a.region;
  const where = r ? `${r.mapping.kind === 'unspecified' ? '' : formatMappingName(r.mapping)}+${hex(r.offset)} at ${hex(r.start)} (${r.length} bytes)` : a.cgroup;
  const cost = a.outcome === 'applied' ? ` [${a.bytesAffected} bytes, ${(a.durationNs / 1e6).toFixed(2)} ms]` : a.errno ? ` [errno ${a.errno}]` : '';
  return `${a.outcome} ${a.action} ${where}${cost}: ${a.reason}`;
}

async function load(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, loadFlags);
  if (flagBoolean(args, 'help')) {
    console.log(usage('profile load FILE --pid PID [flags]', SUMMARY, loadFlags));
    return 0;
  }
  const [file, ...extra] = args.positionals;
  if (file === undefined) throw new UsageError('profile load: which profile? (pageloop profile load FILE --pid PID)');
  if (extra.length > 0) throw new UsageError(`profile load: one FILE, got also '${extra.join(' ')}'`);
  const pid = pidFlag(flagNumber(args, 'pid'));
  const profile = loadJsonFile(file, validateProfile);
  const config = feedbackConfig(policyFromArgs(args).settings);

  let facts;
  try {
    facts = readProcessFacts(pid);
  } catch {
    throw new UsageError(`--pid ${pid}: no such process`);
  }
  if (profile.executable !== undefined && facts.exe !== profile.executable) {
    throw new UsageError(`${file}: the profile is for ${profile.executable}, but pid ${pid} runs ${facts.exe || '(unreadable)'}`);
  }
  // The identity this process has now; the enforcer checks it again through a pidfd.
  const target = { host: config.host, bootId: readBootId(), pid, startNs: facts.startTicks * (1e9 / USER_HZ) };
  const named = nameMappings(readMaps(pid));
  const hintMap = openHintMap(config.hintMapPinPath);
  const json = flagBoolean(args, 'json');
  let ok = 0;
  try {
    const enforcer = createEnforcer(config, { hintMap });
    const planned = profileHints(profile, target, named, loadAddon().bootTimeNs(), file);
    for (const p of planned) {
      const action =
        'hint' in p
          ? enforcer.enforce(p.hint)
          : enforcer.refuse(p.hintId, target, p.refusal, { action: 'unspecified' });
      if (!action) {
        console.log(`already applied: region ${p.index} ${p.label}`);
        ok++;
        continue;
      }
      console.log(json ? JSON.stringify(action) : actionLine(action));
      if (action.outcome === 'applied' || action.outcome === 'dry_run') ok++;
    }
    console.error(`profile ${file} on pid ${pid}: ${ok} of ${planned.length} regions ${config.dryRun ? 'would be applied (dry run)' : 'applied'}`);
    return ok === planned.length ? 0 : 1;
  } finally {
    hintMap.close();
  }
}

const ACTION_NAMES = new Map<number, string>(Object.entries(HINT_MAP_ACTION).map(([k, v]) => [v, k]));

export interface ShownEntry extends HintMapEntry {
  start: number;
  end: number;
  action_name: string;
  /** The mapping name at the region, in the process as it is now ('' when none). */
  mapping: string;
  /** current: the process the entry was written for; stale: the pid now names another process; gone. */
  process: 'current' | 'stale' | 'gone';
}

/** The hint-map entries of one process, with what they mean now. */
export function describeEntries(entries: readonly HintMapEntry[], pid: number, currentTicks: number | undefined, named: readonly NamedVma[]): ShownEntry[] {
  return entries
    .filter((e) => e.pid === pid)
    .sort((a, b) => a.region - b.region)
    .map((e) => {
      const start = e.region * REGION_BYTES;
      const end = start + REGION_BYTES;
      // The first named mapping that overlaps the region (a hint may start mid-region).
      const vma = named.find((v) => v.name && v.start < end && v.end > start);
      const at = vma ? nameOf(named, Math.max(start, vma.start)) : undefined;
      return {
        ...e,
        start,
        end,
        action_name: ACTION_NAMES.get(e.action) ?? `action ${e.action}`,
        mapping: at ? `${formatMappingName(at.name)}+${hex(at.offset)}` : '',
        process: currentTicks === undefined ? 'gone' : currentTicks === startTicksOf(e.startNs) || e.startNs === 0 ? 'current' : 'stale',
      };
    });
}

async function show(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, showFlags);
  if (flagBoolean(args, 'help')) {
    console.log(usage('profile show --pid PID [flags]', SUMMARY, showFlags));
    return 0;
  }
  if (args.positionals.length > 0) throw new UsageError(`profile show takes no arguments, got '${args.positionals.join(' ')}'`);
  const pid = pidFlag(flagNumber(args, 'pid'));
  const pin = flagString(args, 'hint-map') ?? DEFAULT_HINT_MAP_PIN;
  // Showing must not create the map as opening it would.
  if (!existsSync(pin)) {
    console.log(`no hint map is pinned at ${pin}: nothing loaded`);
    return 0;
  }
  let ticks: number | undefined;
  let named: NamedVma[] = [];
  try {
    ticks = readProcessFacts(pid).startTicks;
    named = nameMappings(readMaps(pid));
  } catch {
    ticks = undefined;
  }
  const map = openHintMap(pin);
  let shown: ShownEntry[];
  try {
    shown = describeEntries(map.entries(), pid, ticks, named);
  } finally {
    map.close();
  }
  if (flagBoolean(args, 'json')) {
    console.log(JSON.stringify(shown, null, 2));
    return 0;
  }
  if (shown.length === 0) {
    console.log(`no hints for pid ${pid} in ${pin}`);
    return 0;
  }
  console.log(`hints for pid ${pid}${ticks === undefined ? ' (process gone)' : ''} in ${pin}:`);
  for (const e of shown) {
    const size = e.pageSizeKb ? ` ${e.pageSizeKb} KiB` : '';
    const stale = e.process === 'current' ? '' : ` [${e.process}]`;
    console.log(`  ${hex(e.start)}-${hex(e.end)} ${e.action_name}${size} ${e.mapping || '(unnamed)'} start_ns=${e.startNs} updated_ns=${e.updatedNs}${stale}`);
  }
  return 0;
}

export const profileCommand: Command = {
  name: 'profile',
  summary: SUMMARY,
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub === 'load') return load(rest);
    if (sub === 'show') return show(rest);
    if (sub === undefined || sub === '--help' || sub === 'help') {
      console.log(['usage: pageloop profile load FILE --pid PID [flags]', '       pageloop profile show --pid PID [flags]', SUMMARY].join('\n'));
      return sub === undefined ? 2 : 0;
    }
    throw new UsageError(`profile: unknown subcommand '${sub}' (known: load, show)`);
  },
};
