import type { Command } from '../command.js';
import { flagBoolean, parseArgs, usage, type FlagSpec } from '../args.js';
import { UsageError } from '../../lib/errors.js';
import { probeHost, type Check, type HostReport } from '../doctor/capabilities.js';

const flags: FlagSpec[] = [
  { name: 'json', kind: 'boolean', help: 'print one JSON document: {ok, checks, host}' },
  { name: 'help', kind: 'boolean', help: 'this text' },
];

const SUMMARY = 'What this host supports for pageloop; exits 1 when a must-have is missing.';

const LABEL: Record<Check['status'], string> = { ok: 'ok', missing: 'MISSING', warn: 'warn' };

/** One line per check, then an indented fix line for anything not ok, then a verdict. */
export function formatReport(report: Pick<HostReport, 'checks'>): string {
  const lines: string[] = [];
  for (const c of report.checks) {
    lines.push(`${LABEL[c.status].padEnd(7)} ${c.title}: ${c.detail}`);
    if (c.fix !== undefined) lines.push(`${' '.repeat(8)}fix: ${c.fix}`);
  }
  const missing = report.checks.filter((c) => c.status === 'missing');
  const warns = report.checks.filter((c) => c.status === 'warn').length;
  const verdict =
    missing.length > 0
      ? `${missing.length} must-have${missing.length === 1 ? '' : 's'} missing (${missing.map((c) => c.id).join(', ')})`
      : 'all must-haves present';
  lines.push(`${verdict}; ${warns} warning${warns === 1 ? '' : 's'}`);
  return lines.join('\n');
}

/** 1 when a must-have is missing, so scripts can gate on `pageloop doctor`. */
export function exitStatus(report: Pick<HostReport, 'ok'>): number {
  return report.ok ? 0 : 1;
}

export const doctorCommand: Command = {
  name: 'doctor',
  summary: SUMMARY,
  async run(argv) {
    const args = parseArgs(argv, flags);
    if (flagBoolean(args, 'help')) {
      console.log(usage('doctor [--json]', SUMMARY, flags));
      return 0;
    }
    if (args.positionals.length > 0) {
      throw new UsageError(`doctor takes no arguments, got '${args.positionals.join(' ')}'`);
    }
    const report = probeHost();
    console.log(flagBoolean(args, 'json') ? JSON.stringify(report, null, 2) : formatReport(report));
    return exitStatus(report);
  },
};
