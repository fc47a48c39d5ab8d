import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import {
  CAP_BPF,
  CAP_PERFMON,
  CAP_SYS_ADMIN,
  TRACEPOINTS,
  btfHasName,
  btfStringSection,
  cgroupLayout,
  hasCap,
  kernelAtLeast,
  mthpSizesKb,
  parseDamonOperations,
  parseKernelRelease,
  parseMountinfo,
  parseProcStatus,
  parsePsi,
  parseSelected,
  parseSwaps,
  probeHost,
  tracepointStatus,
  type HostReader,
} from './capabilities.js';

test('parseSelected picks the bracketed choice', () => {
  assert.equal(parseSelected('always [madvise] never\n'), 'madvise');
  assert.equal(parseSelected('[always] madvise never'), 'always');
  assert.equal(parseSelected('always defer defer+madvise [madvise] never'), 'madvise');
  assert.equal(parseSelected('always inherit within_size advise [never]'), 'never');
  assert.equal(parseSelected('[lzo-rle] lzo lz4 '), 'lzo-rle');
  assert.equal(parseSelected('always madvise never'), null);
});

test('parseSwaps reads rows after the header and unescapes paths', () => {
  const text = [
    'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority',
    '/dev/zram0                              partition\t1048572\t\t2048\t\t100',
    '/var/my\\040swap                         file\t\t524284\t\t0\t\t-2',
    '',
  ].join('\n');
  assert.deepEqual(parseSwaps(text), [
    { path: '/dev/zram0', type: 'partition', sizeKb: 1048572, usedKb: 2048, priority: 100 },
    { path: '/var/my swap', type: 'file', sizeKb: 524284, usedKb: 0, priority: -2 },
  ]);
  assert.deepEqual(parseSwaps('Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n'), []);
});

const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
42 23 0:39 / /sys/fs/bpf rw,relatime - bpf bpf rw
43 23 0:13 / /sys/kernel/tracing rw,relatime - tracefs nodev rw
`;

test('parseMountinfo splits at the separator despite optional fields', () => {
  const m = parseMountinfo('29 1 0:26 / /sys/fs/cgroup rw,nosuid shared:4 master:1 - cgroup2 cgroup2 rw,nsdelegate\n' + '50 29 0:40 / /mnt/a\\040b rw - ext4 /dev/vda1 rw\n');
  assert.deepEqual(m, [
    { mountPoint: '/sys/fs/cgroup', fsType: 'cgroup2', source: 'cgroup2', superOptions: ['rw', 'nsdelegate'] },
    { mountPoint: '/mnt/a b', fsType: 'ext4', source: '/dev/vda1', superOptions: ['rw'] },
  ]);
});

test('cgroupLayout tells v1, v2, hybrid and none apart', () => {
  assert.deepEqual(cgroupLayout(parseMountinfo(HYBRID)), {
    version: 'hybrid',
    unifiedMount: '/sys/fs/cgroup/unified',
    v1Controllers: ['cpu', 'memory'],
  });
  const v2 = cgroupLayout(parseMountinfo('29 1 0:26 / /sys/fs/cgroup rw shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n'));
  assert.deepEqual(v2, { version: 'v2', unifiedMount: '/sys/fs/cgroup', v1Controllers: [] });
  const v1 = cgroupLayout(parseMountinfo('32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n'));
  assert.deepEqual(v1, { version: 'v1', unifiedMount: null, v1Controllers: ['cpu', 'cpuacct'] });
  assert.equal(cgroupLayout([]).version, 'none');
});

test('parsePsi reads some and full lines', () => {
  const psi = parsePsi('some avg10=2.28 avg60=2.19 avg300=1.15 total=10315207\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n');
  assert.deepEqual(psi, {
    some: { avg10: 2.28, avg60: 2.19, avg300: 1.15, totalUs: 10315207 },
    full: { avg10: 0, avg60: 0, avg300: 0, totalUs: 0 },
  });
  assert.equal(parsePsi('some avg10=0.00 avg60=0.00 avg300=0.00 total=5\n')?.full, null);
  assert.equal(parsePsi(''), null);
});

test('parseProcStatus and hasCap read the effective uid and capability bits', () => {
  const root = parseProcStatus('Name:\tnode\nUid:\t0\t0\t0\t0\nCapInh:\t0000000000000000\nCapEff:\t000001fffeffffff\n');
  assert.ok(root);
  assert.equal(root.uid, 0);
  assert.ok(hasCap(root.capEff, CAP_SYS_ADMIN) && hasCap(root.capEff, CAP_BPF) && hasCap(root.capEff, CAP_PERFMON));
  // Only CAP_BPF (bit 39) and CAP_PERFMON (bit 38): 0xc0_0000_0000.
  const lean = parseProcStatus('Uid:\t1000\t1001\t1000\t1000\nCapEff:\t000000c000000000\n');
  assert.ok(lean);
  assert.equal(lean.uid, 1001);
  assert.ok(!hasCap(lean.capEff, CAP_SYS_ADMIN) && hasCap(lean.capEff, CAP_BPF) && hasCap(lean.capEff, CAP_PERFMON));
  assert.equal(parseProcStatus('Name:\tx\n'), null);
});

test('parseKernelRelease and kernelAtLeast', () => {
  const k = parseKernelRelease('6.18.44-fc-v595\n');
  assert.deepEqual(k, { release: '6.18.44-fc-v595', major: 6, minor: 18, patch: 44 });
  assert.ok(k && kernelAtLeast(k, 6, 1) && kernelAtLeast(k, 5, 10) && !kernelAtLeast(k, 6, 19) && !kernelAtLeast(k, 7, 0));
  assert.deepEqual(parseKernelRelease('6.1-rc2'), { release: '6.1-rc2', major: 6, minor: 1, patch: 0 });
  assert.equal(parseKernelRelease('garbage'), null);
});

/** A minimal little-endian BTF blob: a 24-byte header, no types, then `strings`. */
function fakeBtf(strings: string, magic = 0xeb9f): Uint8Array {
  const str = Buffer.from(strings, 'latin1');
  const b = Buffer.alloc(24 + str.length);
  b.writeUInt16LE(magic, 0);
  b.writeUInt8(1, 2);
  b.writeUInt32LE(24, 4); // hdr_len
  b.writeUInt32LE(0, 8); // type_off
  b.writeUInt32LE(0, 12); // type_len
  b.writeUInt32LE(0, 16); // str_off
  b.writeUInt32LE(str.length, 20); // str_len
  str.copy(b, 24);
  return b;
}

test('btfStringSection validates the header and btfHasName matches whole names only', () => {
  const strings = btfStringSection(fakeBtf('\0int\0btf_trace_mm_compaction_begin\0btf_trace_rss_stat\0'));
  assert.ok(strings);
  assert.ok(btfHasName(strings, 'btf_trace_rss_stat'));
  assert.ok(btfHasName(strings, 'btf_trace_mm_compaction_begin'));
  assert.ok(!btfHasName(strings, 'btf_trace_mm_compaction'), 'a prefix is not a name');
  assert.ok(!btfHasName(strings, 'trace_rss_stat'), 'a suffix is not a name');
  assert.equal(btfStringSection(fakeBtf('\0int\0', 0x1234)), null);
  assert.equal(btfStringSection(new Uint8Array(8)), null);
  // str_len running past the end of the blob is not BTF either.
  const bad = Buffer.from(fakeBtf('\0int\0'));
  bad.writeUInt32LE(1000, 20);
  assert.equal(btfStringSection(bad), null);
});

test('parseDamonOperations and mthpSizesKb', () => {
  assert.deepEqual(parseDamonOperations('vaddr\nfvaddr\npaddr\n'), ['vaddr', 'fvaddr', 'paddr']);
  assert.deepEqual(parseDamonOperations('paddr\n'), ['paddr']);
  assert.deepEqual(mthpSizesKb(['enabled', 'hugepages-2048kB', 'hugepages-64kB', 'khugepaged', 'hugepages-8kB']), [8, 64, 2048]);
});

test('tracepointStatus: BTF decides, tracefs only witnesses when BTF is unreadable', () => {
  const must = TRACEPOINTS.find((t) => t.mustHave)!;
  const optional = TRACEPOINTS.find((t) => !t.mustHave)!;
  assert.equal(tracepointStatus(must, true, null), 'ok');
  assert.equal(tracepointStatus(must, false, true), 'missing');
  assert.equal(tracepointStatus(must, null, true), 'warn');
  assert.equal(tracepointStatus(must, null, false), 'missing');
  assert.equal(tracepointStatus(optional, false, false), 'warn');
});

/** A host made of literal files; directories are implied by the paths. */
function fakeHost(files: Record<string, string | Uint8Array>): HostReader {
  const paths = Object.keys(files);
  return {
    readText: (p) => {
      const f = files[p];
      return f === undefined ? null : typeof f === 'string' ? f : Buffer.from(f).toString('utf8');
    },
    readBytes: (p) => {
      const f = files[p];
      return f === undefined ? null : typeof f === 'string' ? Buffer.from(f) : f;
    },
    listDir: (p) => {
      const kids = new Set(paths.filter((k) => k.startsWith(p + '/')).map((k) => k.slice(p.length + 1).split('/')[0]!));
      return kids.size > 0 ? [...kids] : null;
    },
    exists: (p) => p in files || paths.some((k) => k.startsWith(p + '/')),
  };
}

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
