import assert from 'node:assert/strict';
import { test } from 'node:test';
import { metricsAuthFromEnv, serveHealthEndpoint, validateHealthEndpointConfig } from './health-endpoint.js';

const get = async (port: number, path: string, auth?: string) => {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, auth ? { headers: { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } } : {});
  return { status: r.status, text: await r.text() };
};

test('/healthz answers, /readyz follows ready(), /metrics has the ready gauge and counters read at scrape time', async () => {
  let ready = false;
  let records = 0;
  const h = await serveHealthEndpoint({ host: '127.0.0.1', port: 0 }, 'sink', {
    ready: () => ready,
    counters: { records_total: { help: 'records', value: () => records } },
  });
  try {
    assert.equal((await get(h.port, '/healthz')).status, 200);
    assert.deepEqual(await get(h.port, '/readyz'), { status: 503, text: 'starting\n' });
    let m = await get(h.port, '/metrics');
    assert.match(m.text, /^pageloop_sink_ready 0$/m);
    assert.match(m.text, /^pageloop_sink_records_total 0$/m);
    ready = true;
    records = 42;
    assert.deepEqual(await get(h.port, '/readyz'), { status: 200, text: 'ready\n' });
    m = await get(h.port, '/metrics');
    assert.match(m.text, /^pageloop_sink_ready 1$/m);
    assert.match(m.text, /^pageloop_sink_records_total 42$/m);
    assert.match(m.text, /^process_cpu_user_seconds_total /m);
    assert.equal((await get(h.port, '/other')).status, 404);
  } finally {
    await h.close();
  }
});

test('beyond loopback /metrics needs credentials; /healthz and /readyz stay open for the kubelet', async () => {
  assert.throws(() => validateHealthEndpointConfig({ host: '0.0.0.0', port: 9466 }), /^UsageError: --metrics-host: 0\.0\.0\.0 is reachable from other machines; set PAGELOOP_METRICS_PASSWORD/);
  assert.deepEqual(metricsAuthFromEnv({}), {});
  assert.deepEqual(metricsAuthFromEnv({ PAGELOOP_METRICS_PASSWORD: 's3cret' }), { auth: { user: 'prometheus', password: 's3cret' } });
  const { auth } = metricsAuthFromEnv({ PAGELOOP_METRICS_USER: 'scraper', PAGELOOP_METRICS_PASSWORD: 's3cret' });
  assert.deepEqual(auth, { user: 'scraper', password: 's3cret' });
  // Bound to all addresses (what a pod does), reached here over loopback.
  const h = await serveHealthEndpoint({ host: '0.0.0.0', port: 0, auth: auth! }, 'processors', { ready: () => true, counters: {} });
  try {
    assert.equal((await get(h.port, '/metrics')).status, 401);
    assert.equal((await get(h.port, '/metrics', 'scraper:wrong')).status, 401);
    assert.equal((await get(h.port, '/metrics', 'prometheus:s3cret')).status, 401);
    const ok = await get(h.port, '/metrics', 'scraper:s3cret');
    assert.equal(ok.status, 200);
    assert.match(ok.text, /^pageloop_processors_ready 1$/m);
    assert.equal((await get(h.port, '/healthz')).status, 200);
    assert.equal((await get(h.port, '/readyz')).status, 200);
  } finally {
    await h.close();
  }
});
