/**
 * `pageloop up`, the README's main job, as a user runs it: the whole pipeline
 * comes up, events reach ClickHouse, and nothing it starts (Node or the Java
 * broker) listens beyond loopback.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../test/broker.js';
import type { StackStatus } from '../../deploy/stack.js';

const MAIN = new URL('../main.js', import.meta.url).pathname;

/** The pids of root and every descendant, from /proc/PID/stat's ppid. */
export function processTree(root: number): Set<number> {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // Gone since readdir.
    }
  }
  const tree = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, ppid] of parent) if (!tree.has(pid) && tree.has(ppid)) (tree.add(pid), (grew = true));
  }
  return tree;
}

function socketInodes(pids: Set<number>): Set<string> {
  const inodes = new Set<string>();
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]!);
      } catch {
        // Closed since readdir.
      }
    }
  }
  return inodes;
}

/** /proc/net/tcp{,6} hex address to text: 0100007F -> 127.0.0.1; IPv6 as its 8 groups. */
export function procNetAddress(hex: string): string {
  if (hex.length === 8) return [3, 2, 1, 0].map((i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join('.');
  const words = Array.from({ length: 4 }, (_, i) => hex.slice(i * 8, i * 8 + 8));
  const bytes = words.flatMap((w) => [3, 2, 1, 0].map((i) => w.slice(i * 2, i * 2 + 2)));
  const groups = Array.from({ length: 8 }, (_, i) => parseInt(bytes[i * 2]! + bytes[i * 2 + 1]!, 16).toString(16));
  return groups.join(':');
}

/** Listening TCP sockets among inodes, as address and port. */
function listening(inodes: Set<string>): Array<{ address: string; port: number }> {
  const out: Array<{ address: string; port: number }> = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A' || !inodes.has(f[9]!)) continue;
      const [addr, port] = f[1]!.split(':') as [string, string];
      out.push({ address: procNetAddress(addr), port: parseInt(port, 16) });
    }
  }
  return out;
}

const LOOPBACK = new Set(['127.0.0.1', '0:0:0:0:0:0:0:1', '0:0:0:0:0:ffff:7f00:1']);

test('procNetAddress reads the kernel\'s byte order', () => {
  assert.equal(procNetAddress('0100007F'), '127.0.0.1');
  assert.equal(procNetAddress('00000000'), '0.0.0.0');
  assert.equal(procNetAddress('00000000000000000000000001000000'), '0:0:0:0:0:0:0:1');
});

test('pageloop up: events reach ClickHouse, the status file is root-only, and every listening socket is on loopback', { timeout: 240_000 }, async () => {
  const state = mkdtempSync(join(tmpdir(), 'pageloop-up-'));
  const [kafkaPort, controllerPort, httpPort, metricsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    XDG_STATE_HOME: state,
    PAGELOOP_KAFKA_PORT: String(kafkaPort),
    PAGELOOP_KAFKA_CONTROLLER_PORT: String(controllerPort),
    PAGELOOP_KAFKA_DATA_DIR: join(state, 'pageloop', 'kafka'),
  };
  delete env.PAGELOOP_KAFKA_BROKERS;
  delete env.PAGELOOP_CLICKHOUSE_URL;
  const child = spawn(process.execPath, [MAIN, 'up', '--duration', '180', '--status-interval', '1', '--clickhouse-http-port', String(httpPort), '--metrics-port', String(metricsPort)], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const statusFile = join(state, 'pageloop', 'up.json');
    let status: StackStatus | undefined;
    for (let i = 0; i < 180 && !(status && status.sinkRows > 0); i++) {
      if (child.exitCode !== null) assert.fail(`pageloop up exited with ${child.exitCode}:\n${stderr}`);
      await sleep(1000);
      if (existsSync(statusFile)) status = JSON.parse(readFileSync(statusFile, 'utf8')) as StackStatus;
    }
    assert.ok(status && status.sinkRows > 0, `no rows reached ClickHouse:\n${stderr}`);
    assert.ok(status.produced > 0 && status.eventsPerSecond >= 0);
    assert.equal(statSync(statusFile).mode & 0o777, 0o600);

    const sockets = listening(socketInodes(processTree(child.pid!)));
    const ports = new Set(sockets.map((s) => s.port));
    for (const port of [kafkaPort, controllerPort, httpPort, metricsPort]) assert.ok(ports.has(port), `nothing listens on ${port}: ${JSON.stringify(sockets)}`);
    const exposed = sockets.filter((s) => !LOOPBACK.has(s.address));
    assert.deepEqual(exposed, [], `listening beyond loopback: ${JSON.stringify(exposed)}`);
  } finally {
    if (child.exitCode === null) child.kill('SIGINT');
    const code = await exited;
    rmSync(state, { recursive: true, force: true });
    assert.equal(code, 0, `pageloop up did not stop cleanly:\n${stderr.slice(-2000)}`);
  }
});
