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
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';

// Named by URL so scripts/test-kinds.mjs sees the command it spawns.
const MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pageloop-bad-input-'));
after(() => {
  // A kafka start row that got past its flags would have left a broker running in STATE: stop it (a no-op when none runs).
  spawnSync(process.execPath, [MAIN, 'kafka', 'stop'], { timeout: 60_000, env: { ...process.env, XDG_STATE_HOME: STATE, PAGELOOP_KAFKA_DATA_DIR: '' } });
  rmSync(dir, { recursive: true, force: true });
});

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
const BAD_VALUES = file('bad-values.json', JSON.stringify({ agent: { imagee: 'x' } }));
const WRONG_VALUES = file('wrong-values.json', JSON.stringify({ agent: { metricsPort: 'x' } }));
const FOLDER_OBJECT = file('folder-object.json', JSON.stringify({ grafana: { folder: {} } }));
const CLUSTER_NUMBER = file('cluster-number.json', JSON.stringify({ clickhouse: { cluster: 5 } }));
const BAD_RING = file('bad-ring.json', JSON.stringify({ probes: { ringBufferBytes: 5000 } }));
const BAD_URL = file('bad-url.json', JSON.stringify({ clickhouse: { url: 'ftp://x' } }));
const OUT = join(dir, 'out');
/** Every state directory (local broker, embedded engine) inside the test's own: a row that got further than its check touches nothing shared. */
const STATE = join(dir, 'state');

function pageloop(args: readonly string[]): { status: number | null; stderr: string; stdout: string } {
  // No broker, no engine: a row that got past its check would fail on them, not hang (bounded anyway).
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, PAGELOOP_CONFIG: '', PAGELOOP_KAFKA_BROKERS: '127.0.0.1:1', XDG_STATE_HOME: STATE, PAGELOOP_KAFKA_DATA_DIR: '', PAGELOOP_CLICKHOUSE_DIR: '' } });
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
  [['trace', '--ring-buffer-kib', '48'], /--ring-buffer-kib: wants a power of two/],
  [['agent', '--ring-buffer-kib', 'big'], /--ring-buffer-kib/],
  [['collect', '--config', BAD_RING], /\/probes\/ringBufferBytes/],
  [['kafka'], /start, stop, status or topics/],
  [['kafka', 'bogus'], /unknown action 'bogus'/],
  [['kafka', 'start', '--port', 'eighty'], /--port/],
  [['kafka', 'status', '--brokers', 'x:1'], /--brokers/],
  // Refused before the broker starts (they were checked after it, and left it running).
  [['kafka', 'start', '--partitions', 'events'], /--partitions: 'events'/],
  [['kafka', 'start', '--partitions', 'bogus=3'], /--partitions.*bogus/],
  [['kafka', 'start', '--replication-factor', '0'], /--replication-factor/],
  [['kafka', 'start', '--brokers', '1', '--replication-factor', '3'], /--replication-factor: 3 replicas/],
  // Refused before a connection is tried (the row's broker does not exist: it would fail on that instead).
  [['kafka', 'topics', '--partitions', 'events=x'], /--partitions: 'events=x'/],
  [['kafka', 'topics', '--replication-factor', '1.5'], /--replication-factor/],
  [['kafka', 'stop', '--partitions', 'events=3'], /--partitions is for/],
  [['collect', '--duration', '-5'], /--duration/],
  [['collect', '--config', MISSING], /missing\.json/],
  [['collect', '--config', UNKNOWN_KEY], /\/kafka\/brokerz/],
  [['collect', '--events', 'pagefault'], /--events.*pagefault/],
  [['collect', '--pid', '12x'], /--pid.*12x/],
  [['record', '--duration', '5'], /--out/],
  [['record', '--out', join(dir, 'r.rec')], /--duration or --command/],
  [['record', '--out', join(dir, 'r.rec'), '--duration', '-1'], /--duration/],
  [['record', '--out', join(dir, 'r.rec'), '--duration', '5', '--events', 'bogus'], /--events.*bogus/],
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
  [['process', '--checkpoint-input-ratio', '-1'], /--checkpoint-input-ratio/],
  [['process', '--engine-workers', '99'], /--engine-workers/],
  [['process', '--config', WRONG_TYPE], /\/processors\/windowMs/],
  [['process', '--model', MISSING], /--model.*missing\.json/],
  [['process', '--metrics-host', '1.2.3.4'], /--metrics-host/],
  [['replay', '--to-prefix', 'x'], /--from-start/],
  [['replay', '--from-start', '--to-prefix', 'pageloop.bad'], /--to-prefix/],
  [['sink', '--raw-ttl-days', '-1'], /--raw-ttl-days/],
  [['sink', '--config', NOT_JSON], /not-json\.json:1:\d+/],
  [['sink', '--duration', 'forever'], /--duration/],
  [['sink', '--metrics-host', '1.2.3.4'], /--metrics-host/],
  [['sink', '--cluster', 'c'], /clickhouse\.cluster: 'c'/],
  [['sink', '--session-timeout-ms', '100'], /sessionTimeoutMs: must be an integer 6000\.\.1800000/],
  [['sink', '--config', BAD_URL], /\/clickhouse\/url/],
  [['serve', '--port', '99999'], /--port: wants an integer from 0 to 65535/],
  [['serve', '--host', '0.0.0.0'], /password: 0\.0\.0\.0 is not loopback/],
  [['serve', '--host', 'example.com'], /host: wants an IP address or localhost/],
  [['serve', '--user', 'a b'], /username: wants letters/],
  [['serve', 'extra'], /serve takes no arguments/],
  [['dashboards', 'build'], /--out/],
  [['dashboards', 'bogus'], /unknown subcommand 'bogus'/],
  [['dashboards', 'queries', '--clickhouse-port', 'x'], /--clickhouse-port/],
  [['dashboards', 'build', '--out', OUT, '--clickhouse-url', 'http://x'], /--provisioning/],
  [['dashboards', 'build', '--out', OUT, '--provisioning', join(dir, 'prov'), '--clickhouse-url', 'notaurl'], /notaurl/],
  [['deploy'], /wants k8s or clickhouse-sql, got nothing/],
  [['deploy', 'bogus'], /'bogus'/],
  [['deploy', 'k8s'], /--out/],
  [['deploy', 'k8s', 'extra', '--out', OUT], /'extra'/],
  [['deploy', 'k8s', '--out', OUT, '--values', MISSING], /missing\.json/],
  [['deploy', 'k8s', '--out', OUT, '--values', BAD_VALUES], /agent\.imagee: unknown key/],
  [['deploy', 'k8s', '--out', OUT, '--values', WRONG_VALUES], /agent\.metricsPort/],
  [['deploy', 'k8s', '--out', OUT, '--values', NOT_JSON], /not-json\.json:1:\d+/],
  // Was a TypeError with its stack (the values fuzz test found it).
  [['deploy', 'k8s', '--out', OUT, '--values', FOLDER_OBJECT], /grafana\.folder: wants a folder name/],
  [['deploy', 'k8s', '--out', OUT, '--cluster', 'x'], /--cluster does not go with deploy k8s/],
  [['deploy', 'clickhouse-sql', '--out', OUT], /--out does not go with deploy clickhouse-sql/],
  [['deploy', 'clickhouse-sql', '--config', CLUSTER_NUMBER], /\/clickhouse\/cluster/],
  [['deploy', 'clickhouse-sql', '--cluster', 'a b'], /clickhouse\.cluster.*"a b"/],
  [['deploy', 'clickhouse-sql', '--database', 'x;drop'], /clickhouse\.database.*"x;drop"/],
];

/**
 * The subcommands of the commands that have them, each needing a row of its
 * own; checked against the command's --help, so a subcommand added there
 * and not here fails the coverage test.
 */
const SUBCOMMANDS: Readonly<Record<string, readonly string[]>> = {
  kafka: ['start', 'stop', 'status', 'topics'],
  profile: ['load', 'show'],
  dashboards: ['build', 'queries'],
  deploy: ['k8s', 'clickhouse-sql'],
};

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

  it('the table covers every subcommand, and --help lists each of them', () => {
    for (const [name, subs] of Object.entries(SUBCOMMANDS)) {
      assert.ok(names.includes(name), `${name} is not a registered command`);
      const help = pageloop([name, '--help']).stdout;
      const covered = new Set(TABLE.filter(([argv]) => argv[0] === name).map(([argv]) => argv[1]));
      for (const sub of subs) {
        assert.match(help, new RegExp(`\\b${sub}\\b`), `pageloop ${name} --help does not name ${sub}`);
        assert.ok(covered.has(sub), `no row for pageloop ${name} ${sub}`);
      }
    }
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

  for (const [name, subs] of Object.entries(SUBCOMMANDS)) {
    for (const sub of subs) {
      it(`${name} ${sub} --no-such-flag (every subcommand)`, { timeout: 40_000 }, () => checkRefusal([name, sub, '--no-such-flag'], /--no-such-flag/));
    }
  }
});
