import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fakeBtf, fakeHost } from '../../test/doctor-host.js';
import { TRACEPOINTS } from './bpf-probe.js';
import { probeHost } from './capabilities.js';

test('probeHost on a bare host: must-haves missing, optional features warn, each with a fix', () => {
  const report = probeHost(
    fakeHost({
      '/proc/self/status': 'Uid:\t1000\t1000\t1000\t1000\nCapEff:\t0000000000000000\n',
      '/proc/sys/kernel/osrelease': '5.4.0-generic\n',
      '/proc/self/mountinfo': '1 0 0:1 / / rw - ext4 /dev/vda1 rw\n',
      '/proc/swaps': 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n',
      '/sys/kernel/mm/transparent_hugepage/enabled': 'always madvise [never]\n',
    }),
  );
  assert.equal(report.ok, false);
  const byId = new Map(report.checks.map((c) => [c.id, c]));
  for (const id of ['privileges', 'btf', 'bpf-syscall', 'tp:exceptions/page_fault_user']) {
    assert.equal(byId.get(id)?.status, 'missing', id);
  }
  assert.equal(byId.get('tp:raw_syscalls/sys_enter')?.status, 'warn', 'the benchmark tracepoint is optional');
  for (const id of ['kernel', 'thp', 'tracefs', 'bpffs', 'swap', 'damon', 'cgroup', 'psi']) {
    assert.equal(byId.get(id)?.status, 'warn', id);
  }
  assert.match(byId.get('tracefs')!.fix!, /mount -t tracefs nodev \/sys\/kernel\/tracing/);
  assert.match(byId.get('bpffs')!.fix!, /mount -t bpf bpf \/sys\/fs\/bpf/);
  for (const c of report.checks) {
    assert.equal(c.status === 'ok', c.fix === undefined, `${c.id}: a fix exactly when not ok`);
    assert.ok(c.status !== 'missing' || c.mustHave, `${c.id}: only must-haves are 'missing'`);
  }
});

test('probeHost accepts CAP_BPF + CAP_PERFMON without root, and reads DAMON ops from BTF when no context exists', () => {
  const report = probeHost(
    fakeHost({
      '/proc/self/status': 'Uid:\t1000\t1000\t1000\t1000\nCapEff:\t000000c000000000\n',
      '/sys/kernel/btf/vmlinux': fakeBtf('\0damon_pa_check_accesses\0damon_va_check_accesses\0' + TRACEPOINTS.map((t) => `btf_trace_${t.name}\0`).join('')),
      '/proc/sys/kernel/bpf_stats_enabled': '0\n',
      '/sys/kernel/mm/damon/admin/kdamonds/nr_kdamonds': '0\n',
      '/proc/self/mountinfo': '43 23 0:13 / /sys/kernel/tracing rw,relatime - tracefs nodev rw\n',
    }),
  );
  const byId = new Map(report.checks.map((c) => [c.id, c]));
  assert.equal(byId.get('privileges')?.status, 'ok');
  assert.equal(report.ok, true, JSON.stringify(report.checks.filter((c) => c.status === 'missing')));
  assert.deepEqual(report.host.damon.operations, ['vaddr', 'paddr']);
  assert.equal(report.host.damon.operationsSource, 'btf');
  assert.equal(byId.get('damon-vaddr')?.status, 'ok');
  // Mounted (mountinfo says so) but its events/ invisible to a non-root process.
  assert.equal(byId.get('tracefs')?.status, 'warn');
  assert.match(byId.get('tracefs')!.detail, /mounted at \/sys\/kernel\/tracing but not readable/);
});

/** Reads `paths` until two passes agree, so a test elsewhere toggling swap or THP cannot race the probe. */
function stableRead(paths: readonly string[], probe: () => ReturnType<typeof probeHost>) {
  for (let attempt = 0; ; attempt++) {
    const before = paths.map((p) => readFileSync(p, 'utf8'));
    const report = probe();
    const after = paths.map((p) => readFileSync(p, 'utf8'));
    if (before.every((b, i) => b === after[i]) || attempt === 4) return { report, texts: after };
  }
}

test('probeHost on this machine agrees with the files it read', () => {
  const THP = '/sys/kernel/mm/transparent_hugepage';
  const { report, texts } = stableRead([`${THP}/enabled`, '/proc/swaps'], () => probeHost());
  const byId = new Map(report.checks.map((c) => [c.id, c]));

  assert.ok(existsSync('/sys/kernel/btf/vmlinux'));
  assert.equal(byId.get('btf')?.status, 'ok');
  for (const tp of TRACEPOINTS) {
    assert.equal(byId.get(`tp:${tp.subsystem}/${tp.name}`)?.status, 'ok', `${tp.subsystem}:${tp.name}`);
  }

  // The THP mode is the bracketed word of the file, found here without parseSelected.
  const mode = texts[0]!.split(/\s+/).find((w) => w.startsWith('['))!.slice(1, -1);
  assert.equal(report.host.thp?.enabled, mode);
  assert.equal(byId.get('thp')?.status, mode === 'never' ? 'warn' : 'ok');

  const dirs = readdirSync(THP)
    .filter((e) => /^hugepages-\d+kB$/.test(e))
    .map((e) => Number(e.slice('hugepages-'.length, -2)))
    .sort((a, b) => a - b);
  assert.deepEqual(report.host.thp?.sizes.map((s) => s.sizeKb), dirs);

  const rows = texts[1]!.split('\n').slice(1).filter((l) => l.trim() !== '').map((l) => l.split(/\s+/)[0]);
  assert.deepEqual(report.host.swaps.map((s) => s.path), rows);
  assert.equal(byId.get('swap')?.status, rows.length > 0 ? 'ok' : 'warn');

  // Running as root here: privileges and the must-haves hold.
  assert.equal(byId.get('privileges')?.status, 'ok');
  assert.equal(report.ok, true);
});
