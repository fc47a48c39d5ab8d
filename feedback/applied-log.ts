/**
 * The hint ids this host's agent has acted on, kept in a file so that a
 * restarted agent does not act on them again.
 *
 * Why a file: a restarted agent reads its live hints again from the
 * compacted topic, and the pinned hint map only remembers the newest hint
 * per 2 MiB region. The chaos run found a page-out applied twice: a later
 * hint of the same region had overwritten the map entry, so the replayed
 * page-out looked new. memory.reclaim hints leave no map entry at all.
 *
 * Each change is one line appended with one write(2) before the act
 * (`+"id"` or `-"id"`, JSON strings). No fsync: an agent that dies keeps
 * what it wrote in the page cache, and a host that crashes reboots, and
 * hints of the old boot are refused anyway. The file is rewritten with the
 * current set when it is opened and whenever it has grown to several times
 * the set, so it stays as small as the live hints. Root-only (0600 in a 0700
 * directory): it names the host's processes.
 */
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, chmodSync, writeFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** What the enforcer needs: an in-memory Set has the same shape. */
export interface AppliedHints {
  has(hintId: string): boolean;
  add(hintId: string): unknown;
  delete(hintId: string): unknown;
}

export interface AppliedLog extends AppliedHints {
  readonly path: string;
  readonly size: number;
  /** Lines that did not parse when the file was read (a line torn by a full disk), skipped. */
  readonly skippedLines: number;
  /** Keeps only these ids (the hints still live in the topic: no other can be read again), and rewrites the file. */
  retain(keep: ReadonlySet<string>): void;
  close(): void;
}

/** Rewrite when the file holds this many lines more than the set, and several times the set. */
const COMPACT_SLACK_LINES = 1000;

function readEntries(path: string): { ids: Set<string>; skipped: number } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ids: new Set(), skipped: 0 };
    throw err;
  }
  const ids = new Set<string>();
  let skipped = 0;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let id: unknown;
    try {
      id = JSON.parse(line.slice(1));
    } catch {
      id = undefined;
    }
    if (typeof id !== 'string' || (line[0] !== '+' && line[0] !== '-')) {
      skipped++;
      continue;
    }
    if (line[0] === '+') ids.add(id);
    else ids.delete(id);
  }
  return { ids, skipped };
}

export function openAppliedLog(path: string): AppliedLog {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  chmodSync(dirname(path), 0o700);
  const { ids, skipped } = readEntries(path);
  let fd = -1;
  let lines = 0;
  const rewrite = (): void => {
    if (fd >= 0) closeSync(fd);
    const tmp = `${path}.tmp`;
    writeFileSync(tmp, [...ids].map((id) => `+${JSON.stringify(id)}\n`).join(''), { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, path);
    fd = openSync(path, 'a', 0o600);
    lines = ids.size;
  };
  const append = (line: string): void => {
    writeSync(fd, line);
    lines++;
    if (lines > COMPACT_SLACK_LINES && lines > 4 * ids.size) rewrite();
  };
  rewrite();
  return {
    path,
    skippedLines: skipped,
    get size() {
      return ids.size;
    },
    has: (id) => ids.has(id),
    add(id) {
      if (ids.has(id)) return;
      // Written before the set changes: if the write fails (a full disk), the act is not done either.
      append(`+${JSON.stringify(id)}\n`);
      ids.add(id);
    },
    delete(id) {
      if (!ids.has(id)) return;
      ids.delete(id);
      try {
        append(`-${JSON.stringify(id)}\n`);
      } catch {
        // Not written: the id stays in the file, which only refuses a hint that was withdrawn already.
      }
    },
    retain(keep) {
      for (const id of ids) if (!keep.has(id)) ids.delete(id);
      rewrite();
    },
    close() {
      if (fd >= 0) closeSync(fd);
      fd = -1;
    },
  };
}
