/**
 * Every `pageloop` command with bad flags and files, as a person types them:
 * negative durations, unknown families, non-numeric pids, unknown config
 * keys, wrong types, missing files. Each exits non-zero with exactly one
 * line on stderr, naming the flag or field, and no stack trace. The command
 * list comes from `pageloop --help` (the registry in cli/main.ts), and every
 * command also gets the generic rows (an unknown flag, a word for a number
 * flag), so a new command is covered the day it is registered.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'pageloop-bad-input-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const UNKNOWN_KEY = file('unknown-key.json', JSON.stringify({ kafka: { brokerz: ['x:1'] } }));
const WRONG_TYPE = file('wrong-type.json', JSON.stringify({ processors: { windowMs: 'ten seconds' } }));
const NOT_JSON = file('not-json.json', '{"host": "a",,}');
const BAD_PROFILE = file('bad-profile.json', JSON.stringify({ version: 1, regions: [{ name: { kind: 'heap' }, offset: -1, length: 10, benefit: { '2048': 1 } }] }));
const MISSING = join(dir, 'missing.json');

function pageloop(args: readonly string[]): { status: number | null; stderr: string; stdout: string } {
  // No broker, no engine: a row that got past its check would fail on them, not hang (bounded anyway).
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, PAGELOOP_CONFIG: '', PAGELOOP_KAFKA_BROKERS: '127.0.0.1:1' } });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

function commands(): string[] {
  const r = pageloop(['--help']);
  assert.equal(r.status, 0, r.stderr);
  const names = r.stdout.split('\n').filter((l) => /^ {2}\w/.test(l)).map((l) => l.trim());
  assert.ok(names.length >= 10, `commands from --help: ${names.join(', ')}`);
  return names;
}

/** [argv, what the one stderr line must name]. */
const TABLE: [string[], RegExp][] = [
  [['no-such-command'], /unknown command 'no-such-command'/],
  [['doctor', 'extra'], /doctor takes no arguments/],
  [['trace', '--duration', '-1'], /--duration/],
  [['trace', '--events', 'fault,bogus'], /--events.*bogus/],
  [['trace', '--pid', 'abc'], /--pid.*abc/],
  [['trace', '--pid', '-3'], /--pid/],
  [['trace', '--fault-mode', 'sometimes'], /--fault-mode/],
  [['trace', '--sample', 'often'], /--sample/],
  [['kafka'], /start, stop, status or topics/],
  [['kafka', 'bogus'], /unknown action 'bogus'/],
  [['kafka', 'start', '--port', 'eighty'], /--port/],
  [['kafka', 'status', '--brokers', 'x:1'], /--brokers/],
  [['collect', '--duration', '-5'], /--duration/],
  [['collect', '--config', MISSING], /missing\.json/],
  [['collect', '--config', UNKNOWN_KEY], /\/kafka\/brokerz/],
  [['collect', '--events', 'pagefault'], /--events.*pagefault/],
  [['collect', '--pid', '12x'], /--pid.*12x/],
  [['record', '--duration', '5'], /--out/],
  [['record', '--out', join(dir, 'r.rec')], /--duration or --command/],
  [['record', '--out', join(dir, 'r.rec'), '--duration', '-1'], /--duration/],
  [['feedback', '--duration', '0'], /--duration/],
  [['feedback', '--per-process-per-minute', 'lots'], /--per-process-per-minute/],
  [['feedback', '--config', WRONG_TYPE], /\/processors\/windowMs/],
  [['agent', '--pid', 'init'], /--pid.*init/],
  [['agent', '--events', 'nope'], /--events.*nope/],
  [['up', '--status-interval', '0'], /--status-interval/],
  [['up', '--duration', '-1'], /--duration/],
  [['status', '--json=maybe', 'extra'], /status takes no arguments/],
  [['profile', 'bogus'], /unknown subcommand 'bogus'/],
  [['profile', 'load', MISSING, '--pid', '1'], /missing\.json/],
  [['profile', 'load', BAD_PROFILE, '--pid', '1'], /\/regions\/0\/offset/],
  [['profile', 'load', NOT_JSON, '--pid', String(process.pid)], /not-json\.json:1:\d+/],
  [['profile', 'load', BAD_PROFILE], /--pid/],
  [['profile', 'show', '--pid', 'abc'], /--pid/],
  [['profile', 'show', '--pid', '-1'], /--pid/],
  [['process', '--checkpoint-every', '-1'], /--checkpoint-every/],
  [['process', '--engine-workers', '99'], /--engine-workers/],
  [['process', '--config', WRONG_TYPE], /\/processors\/windowMs/],
  [['process', '--model', MISSING], /--model.*missing\.json/],
  [['replay', '--to-prefix', 'x'], /--from-start/],
  [['replay', '--from-start', '--to-prefix', 'pageloop.bad'], /--to-prefix/],
  [['sink', '--raw-ttl-days', '-1'], /--raw-ttl-days/],
  [['sink', '--config', NOT_JSON], /not-json\.json:1:\d+/],
  [['sink', '--duration', 'forever'], /--duration/],
  [['dashboards', 'build'], /--out/],
  [['dashboards', 'bogus'], /unknown subcommand 'bogus'/],
  [['dashboards', 'queries', '--clickhouse-port', 'x'], /--clickhouse-port/],
];

function checkRefusal(args: readonly string[], names: RegExp): void {
  const r = pageloop(args);
  const what = `pageloop ${args.join(' ')}`;
  assert.ok(r.status !== 0 && r.status !== null, `${what}: exit status ${r.status}\n${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, `${what}: wants one line on stderr, got ${lines.length}:\n${r.stderr}`);
  assert.ok(!/^\s+at /m.test(r.stderr), `${what}: a stack trace:\n${r.stderr}`);
  assert.match(lines[0]!, /^pageloop: /, `${what}: ${lines[0]}`);
  assert.match(lines[0]!, names, `${what}: the line does not name it: ${lines[0]}`);
}

describe('pageloop with bad flags and files', () => {
  const names = commands();

  it('the table covers every registered command', () => {
    const covered = new Set(TABLE.map(([argv]) => argv[0]));
    assert.deepEqual(names.filter((n) => !covered.has(n)), []);
  });

  for (const [argv, wants] of TABLE) {
    it(argv.join(' '), { timeout: 40_000 }, () => checkRefusal(argv, wants));
  }

  for (const name of names) {
    it(`${name} --no-such-flag (every command)`, { timeout: 40_000 }, () => {
      const sub = name === 'profile' ? ['profile', 'show'] : [name];
      checkRefusal([...sub, '--no-such-flag'], /--no-such-flag/);
    });
  }
});
