import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lossFromRows, ringLossFromMetrics, sameLoss, totalLoss } from './endpoint.js';

test('ring loss from /metrics: the per-family, per-CPU counters above 0', () => {
  const text = [
    '# HELP pageloop_ringbuf_lost_total Ring-buffer records the kernel could not reserve, per family and CPU',
    '# TYPE pageloop_ringbuf_lost_total counter',
    'pageloop_ringbuf_lost_total{family="fault",cpu="0"} 12',
    'pageloop_ringbuf_lost_total{family="fault",cpu="1"} 7932',
    'pageloop_ringbuf_lost_total{family="swap",cpu="1"} 0',
    'pageloop_ringbuf_lost_totally{family="fault",cpu="0"} 5',
    'pageloop_collector_events_produced_total{family="fault"} 99',
  ].join('\n');
  const loss = ringLossFromMetrics(text);
  assert.deepEqual([...loss], [['fault/0', 12], ['fault/1', 7932]]);
  assert.equal(totalLoss(loss), 7944);
});

test("the wire's rows compare with the kernel's counters key by key", () => {
  const kernel = ringLossFromMetrics('pageloop_ringbuf_lost_total{family="fault",cpu="1"} 7932\n');
  assert.ok(sameLoss(kernel, lossFromRows([{ family: 'fault', cpu: '1', lost: '7932' }])));
  assert.ok(!sameLoss(kernel, lossFromRows([{ family: 'fault', cpu: 1, lost: 7931 }])));
  assert.ok(!sameLoss(kernel, lossFromRows([{ family: 'fault', cpu: 0, lost: 7932 }])));
  assert.ok(!sameLoss(kernel, lossFromRows([])));
  assert.ok(sameLoss(new Map(), lossFromRows([{ family: 'swap', cpu: 0, lost: 0 }])));
});
