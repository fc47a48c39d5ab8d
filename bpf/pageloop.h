/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one definition of what crosses the ring buffer and the maps between the
 * BPF programs and user space. The TypeScript layouts are generated from this
 * file (bpf/gen-layout.ts) and a test compiles it with a C compiler to check
 * every offset, so keep to what that generator reads:
 *   - fields of __u8/__u16/__u32/__u64/__s32/__s64, or arrays of them;
 *   - `struct pl_header h;` may open an event struct;
 *   - every struct padded by hand to a multiple of 8 bytes;
 *   - enums with explicit values.
 */
#ifndef PAGELOOP_H
#define PAGELOOP_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define PL_COMM_LEN 16
#define PL_MAX_CPUS 256

/* Event families: what a user selects with --events. Loss is counted per family. */
enum pl_family {
	PL_FAMILY_FAULT = 0,
	PL_FAMILY_PROMOTION = 1,
	PL_FAMILY_COLLAPSE = 2,
	PL_FAMILY_COMPACTION = 3,
	PL_FAMILY_SWAP = 4,
	PL_FAMILY_COUNT = 5,
};

/* Record kinds: one per struct below; pl_header.kind says which follows. */
enum pl_kind {
	PL_KIND_FAULT = 1,
	PL_KIND_PROMOTION = 2,
	PL_KIND_COLLAPSE = 3,
	PL_KIND_COMPACTION = 4,
	PL_KIND_COMPACTION_DEFER = 5,
	PL_KIND_KCOMPACTD_WAKE = 6,
	PL_KIND_SWAP_OUT = 7,
	PL_KIND_SWAP_IN = 8,
	PL_KIND_SWAP_ENTRIES = 9,
	PL_KIND_RECLAIM = 10,
	PL_KIND_BENCH = 11,
};

/* How targets are chosen; lives in pl_runtime.target_mode, changeable while running. */
enum pl_target_mode {
	PL_TARGET_ALL = 0,
	PL_TARGET_PIDS = 1,
	PL_TARGET_CGROUPS = 2,
};

enum pl_fault_mode {
	PL_FAULT_AGGREGATED = 0,
	PL_FAULT_RAW = 1,
	/* Counted per region by a perf event on minor faults, 1 in its sample period. */
	PL_FAULT_SAMPLED = 2,
};

/* x86 page fault error code bits (arch/x86/include/asm/trap_pf.h). */
enum pl_fault_error_bits {
	PL_PF_PROT = 1,
	PL_PF_WRITE = 2,
	PL_PF_USER = 4,
	PL_PF_INSTR = 16,
};

/* Whether a swap-in fault hit anonymous memory (a real swap-in) or a file. */
enum pl_backing {
	PL_BACKING_UNKNOWN = 0,
	PL_BACKING_ANON = 1,
	PL_BACKING_FILE = 2,
};

/*
 * Every record starts with this. pid/start_ns name the process the event is
 * about (for swap-outs and collapses, the owner of the mm, which may not be
 * the task that ran); tid is the task that ran. Times are CLOCK_BOOTTIME ns,
 * the clock of /proc/PID/stat's start time.
 */
struct pl_header {
	__u64 ts_ns;
	__u64 start_ns;
	__u32 pid;
	__u32 tid;
	__u16 kind;
	__u16 cpu;
	__u32 hint;
};

/* A user page fault (raw mode: every fault, or 1 in fault_sample_every). */
struct pl_fault_event {
	struct pl_header h;
	__u64 address;
	__u64 ip;
	__u32 error_code;
	__u32 sample_weight;
};

/* A huge page or mTHP allocated (or failed: a fallback) inside a user fault. */
struct pl_promotion_event {
	struct pl_header h;
	__u64 address;
	/* When the fault began: exact for the first fault of a region (every PMD-size
	 * promotion) and in raw mode, else to the scheduler tick. */
	__u64 fault_ns;
	__u32 order;
	__u32 gfp;
	__u32 failed;
	__s32 migratetype;
};

/* mm_collapse_huge_page: khugepaged or MADV_COLLAPSE built a 2M page (or not). */
struct pl_collapse_event {
	struct pl_header h;
	__s32 status;
	__u32 isolated;
	__u32 caller_pid;
	__u32 pad;
	__u8 caller_comm[PL_COMM_LEN];
};

/* One compact_zone() run from begin to end; the header names who stalled on it. */
struct pl_compaction_event {
	struct pl_header h;
	__u64 duration_ns;
	__u64 zone_start_pfn;
	__u64 zone_end_pfn;
	__u64 migrate_scanned;
	__u64 free_scanned;
	__s32 status;
	__s32 order;
	__u32 sync;
	__u32 direct;
	__u32 proactive;
	__u32 kthread;
	__u8 comm[PL_COMM_LEN];
};

/* A zone's compaction was deferred (defer=1) or skipped because deferred (defer=0). */
struct pl_compaction_defer_event {
	struct pl_header h;
	__s32 order;
	__u32 node;
	__u32 considered;
	__u32 defer_shift;
	__s32 order_failed;
	__u32 defer;
};

struct pl_kcompactd_wake_event {
	struct pl_header h;
	__u32 node;
	__s32 order;
	__u32 zone_type;
	__u32 pad;
};

/* A folio written to swap by reclaim (mm_vmscan_write_folio). */
struct pl_swap_out_event {
	struct pl_header h;
	__u64 address;
	__u32 pages;
	__u32 anon;
	__u32 reclaimer_pid;
	__u32 pad;
};

/* A major fault (PERF_COUNT_SW_PAGE_FAULTS_MAJ): a swap-in when backing is anon. */
struct pl_swap_in_event {
	struct pl_header h;
	__u64 address;
	__u32 backing;
	__u32 pad;
};

/* rss_stat for MM_SWAPENTS: the mm's swap entry count after a change. */
struct pl_swap_entries_event {
	struct pl_header h;
	__s64 count;
};

/* One direct reclaim, begin to end. */
struct pl_reclaim_event {
	struct pl_header h;
	__u64 duration_ns;
	__u64 nr_reclaimed;
	__s32 order;
	__u32 gfp;
};

/* Synthetic records of fault size, only for the drain benchmark. */
struct pl_bench_event {
	struct pl_header h;
	__u64 seq;
	__u64 payload[2];
};

/* Aggregated faults: map key and value (counters only ever grow). */
struct pl_fault_key {
	__u32 pid;
	__u32 pad;
	__u64 region;
};

struct pl_fault_stats {
	__u64 faults;
	__u64 write_faults;
	__u64 instr_faults;
	__u64 prot_faults;
	__u64 first_ns;
	__u64 last_ns;
	__u64 start_ns;
	__u32 hint;
	/* 1: the counts are exact; N: minor faults were sampled 1 in N, each
	 * sample counted N times (major faults are always counted one by one). */
	__u32 sample_period;
};

/*
 * Per-CPU write-combining cache for aggregated faults: consecutive faults of
 * one process in one region only bump these counters; the hash map is
 * touched when the (process, region) changes. User space adds these pending
 * counts to the hash map's when it sweeps.
 */
struct pl_fault_cache {
	__u32 pid;
	__u32 generation;
	__u64 region;
	__u64 start_ns;
	__u32 targeted;
	__u32 pad;
	__u64 first_ns;
	__u64 faults;
	__u64 write_faults;
	__u64 instr_faults;
	__u64 prot_faults;
};

/* Run-time settings, one entry in pl_runtime. */
struct pl_runtime_config {
	__u32 target_mode;
	__u32 generation;
};

/* Hints: what the planner wants for one region of one process (see feedback/). */
struct pl_hint_key {
	__u32 pid;
	__u32 pad;
	__u64 region;
};

struct pl_hint_value {
	__u64 start_ns;
	__u32 action;
	__u32 page_size_kb;
	__u64 updated_ns;
};

#endif /* PAGELOOP_H */
