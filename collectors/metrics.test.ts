/** The metrics endpoint: what it serves, and who it serves it to. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FAMILIES } from '../bpf/events.js';
import { UsageError } from '../lib/errors.js';
import type { CollectorStats } from './collector.js';
import { createCollectorMetrics } from './metrics.js';
import { zeroCounts } from './queue.js';

function stats(): CollectorStats {
  const drained = zeroCounts();
  drained.fault = 12;
  const perFamily = Object.fromEntries(FAMILIES.map((f) => [f, [0, 0]])) as CollectorStats['loss']['perFamily'];
  return {
    drained, produced: zeroCounts(), dropped: zeroCounts(), queuedBytes: 0, queuedEvents: 0, batchesProduced: 0,
    produceErrors: 0, lastProduceError: undefined, sequence: 0, loss: { perFamily, total: 0 },
  };
}

const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

test('on loopback with no credentials, /metrics is served to anyone on the machine', async () => {
  const m = createCollectorMetrics(stats);
  try {
    const port = await m.serve('127.0.0.1', 0);
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /pageloop_collector_events_drained_total\{family="fault"\} 12/);
  } finally {
    await m.close();
  }
});

test('beyond loopback the endpoint refuses to start without a password, naming the key', () => {
  const m = createCollectorMetrics(stats);
  assert.throws(() => m.serve('0.0.0.0', 0), (err: unknown) => err instanceof UsageError && /^collector\.metrics\.host: 0\.0\.0\.0 .*collector\.metrics\.password/.test(err.message));
});

test('with credentials set, a scrape without them or with wrong ones gets 401 and nothing else', async () => {
  const m = createCollectorMetrics(stats);
  try {
    const port = await m.serve('0.0.0.0', 0, { user: 'prometheus', password: 's3cret' });
    const url = `http://127.0.0.1:${port}/metrics`;
    const none = await fetch(url);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Basic realm="pageloop"');
    assert.doesNotMatch(await none.text(), /pageloop_/);
    assert.equal((await fetch(url, { headers: basic('prometheus', 'wrong') })).status, 401);
    assert.equal((await fetch(url, { headers: basic('other', 's3cret') })).status, 401);
    const ok = await fetch(url, { headers: basic('prometheus', 's3cret') });
    assert.equal(ok.status, 200);
    assert.match(await ok.text(), /pageloop_collector_events_drained_total\{family="fault"\} 12/);
  } finally {
    await m.close();
  }
});
