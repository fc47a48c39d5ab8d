/**
 * `pageloop serve` spawned for real on the embedded engine: read-only by
 * default, writable by POST with --writable (GET stays read-only), and after
 * a SIGKILL and a start on the same data directory it answers the same rows.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';

// Named by URL so scripts/test-kinds.mjs sees the command it spawns.
const MAIN = fileURLToPath(new URL('../main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pageloop-serve-'));
const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Starts `pageloop serve` on a free port; resolves with its URL once it says where it listens. */
function serve(extra: string[]): Promise<{ url: string; child: ChildProcess; exit: Promise<number | null> }> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('PAGELOOP_')) delete env[k];
  const child = spawn(process.execPath, [MAIN, 'serve', '--clickhouse-dir', join(dir, 'engine'), '--port', '0', ...extra], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let stderr = '';
  return new Promise((resolve, reject) => {
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      stderr += d;
      const m = /ClickHouse HTTP endpoint on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
      if (m) resolve({ url: m[1]!, child, exit });
    });
    void exit.then((code) => reject(new Error(`serve exited (${code}) before listening: ${stderr}`)));
  });
}

async function get(url: string, sql: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${url}/?${new URLSearchParams({ query: sql })}`);
  return { status: res.status, text: await res.text() };
}
async function post(url: string, sql: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${url}/`, { method: 'POST', body: sql });
  return { status: res.status, text: await res.text() };
}

test('serve: writable by POST with --writable, read-only by GET; the same rows after a SIGKILL and a restart; read-only without the flag', async () => {
  let s = await serve(['--writable']);
  assert.equal((await fetch(`${s.url}/ping`).then((r) => r.text())), 'Ok.\n');
  assert.equal((await post(s.url, 'CREATE TABLE pageloop.t (x UInt32) ENGINE = MergeTree ORDER BY x')).status, 200);
  assert.equal((await post(s.url, 'INSERT INTO pageloop.t VALUES (1), (2), (3)')).status, 200);
  const refused = await get(s.url, 'INSERT INTO pageloop.t VALUES (4)');
  assert.notEqual(refused.status, 200, 'a GET wrote');
  assert.match(refused.text, /readonly/i);
  const query = 'SELECT x FROM pageloop.t ORDER BY x FORMAT CSV';
  const before = await get(s.url, query);
  assert.deepEqual(before, { status: 200, text: '1\n2\n3\n' });

  s.child.kill('SIGKILL');
  await s.exit;
  s = await serve([]);
  assert.deepEqual(await get(s.url, query), before);
  const write = await post(s.url, 'INSERT INTO pageloop.t VALUES (5)');
  assert.notEqual(write.status, 200, 'a POST wrote without --writable');
  assert.match(write.text, /readonly/i);
  s.child.kill('SIGTERM');
  assert.equal(await s.exit, 0);
});
