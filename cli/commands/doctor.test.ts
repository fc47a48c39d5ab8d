import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { exitStatus, formatReport } from './doctor.js';
import type { Check, HostReport } from '../doctor/capabilities.js';

const MAIN = fileURLToPath(new URL('../main.js', import.meta.url));

function pageloop(...args: string[]) {
  return spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 30_000 });
}

const EXPECTED_IDS = [
  'kernel',
  'privileges',
  'btf',
  'bpf-syscall',
  'tp:exceptions/page_fault_user',
  'tp:kmem/mm_page_alloc',
  'tp:huge_memory/mm_collapse_huge_page',
  'tp:compaction/mm_compaction_begin',
  'tp:compaction/mm_compaction_end',
  'tp:compaction/mm_compaction_defer_compaction',
  'tp:compaction/mm_compaction_deferred',
  'tp:compaction/mm_compaction_wakeup_kcompactd',
  'tp:kmem/rss_stat',
  'tp:vmscan/mm_vmscan_write_folio',
  'tp:vmscan/mm_vmscan_direct_reclaim_begin',
  'tp:vmscan/mm_vmscan_direct_reclaim_end',
  'tp:raw_syscalls/sys_enter',
  'tracefs',
  'perf-events',
  'bpffs',
  'thp',
  'mthp',
  'khugepaged',
  'damon',
  'damon-vaddr',
  'swap',
  'zram',
  'numa-balancing',
  'psi',
  'cgroup',
  'feedback-privileges',
];

test('doctor --json prints one JSON document with every check, and exits 0 on this host', () => {
  const r = pageloop('doctor', '--json');
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as HostReport;
  assert.equal(report.ok, true);
  assert.deepEqual(report.checks.map((c) => c.id), EXPECTED_IDS);
  for (const c of report.checks) {
    assert.ok(['ok', 'missing', 'warn'].includes(c.status), `${c.id}: ${c.status}`);
    assert.equal(typeof c.mustHave, 'boolean');
    assert.ok(c.detail.length > 0, `${c.id} has a detail`);
  }
  assert.equal(report.host.kernel?.release, readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim());
});

test('doctor prints one ok/MISSING/warn line per check', () => {
  const r = pageloop('doctor');
  assert.equal(r.status, 0, r.stderr);
  const checkLines = r.stdout.split('\n').filter((l) => /^(ok|MISSING|warn) /.test(l));
  assert.equal(checkLines.length, EXPECTED_IDS.length, r.stdout);
  assert.match(r.stdout, /all must-haves present/);
});

test('doctor --bogus is a usage error naming the flag', () => {
  const r = pageloop('doctor', '--bogus');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--bogus/);
  assert.equal(r.stdout, '');
});

test('formatReport shows MISSING with its fix, and the exit verdict', () => {
  const checks: Check[] = [
    { id: 'btf', title: 'Kernel BTF', status: 'missing', mustHave: true, detail: 'absent', fix: 'CONFIG_DEBUG_INFO_BTF=y' },
    { id: 'swap', title: 'Swap', status: 'warn', mustHave: false, detail: 'none', fix: 'swapon' },
    { id: 'psi', title: 'PSI', status: 'ok', mustHave: false, detail: 'some avg10=0.00' },
  ];
  assert.equal(
    formatReport({ checks }),
    [
      'MISSING Kernel BTF: absent',
      '        fix: CONFIG_DEBUG_INFO_BTF=y',
      'warn    Swap: none',
      '        fix: swapon',
      'ok      PSI: some avg10=0.00',
      '1 must-have missing (btf); 1 warning',
    ].join('\n'),
  );
  assert.equal(exitStatus({ ok: false }), 1);
  assert.equal(exitStatus({ ok: true }), 0);
});
