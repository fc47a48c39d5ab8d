/**
 * One pageloop command (dist/cli/main.js) as a child process the chaos run
 * can SIGKILL, SIGSTOP/SIGCONT, restart with the same arguments, and stop
 * cleanly (SIGTERM, then wait for its exit). Keeps the tail of its stderr so
 * a run that fails can say what the process said last.
 *
 * Each run of the command is detached into its own process group, and
 * every signal goes to the group, tracked in ./children.ts so the harness's
 * cleanup (and its SIGTERM handler) can end it whatever state it is in.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { trackGroup, untrackGroup } from './children.js';

const PAGELOOP_MAIN = fileURLToPath(new URL('../../cli/main.js', import.meta.url));
const TAIL_CHARS = 8000;

export interface Service {
  readonly name: string;
  pid(): number | undefined;
  /** Starts (or restarts) the command; a running one is left alone. */
  start(): void;
  signal(sig: 'SIGKILL' | 'SIGSTOP' | 'SIGCONT'): void;
  /** SIGKILL and wait until the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM and wait for the exit; SIGKILL after `timeoutMs`. Resolves with the exit code. */
  stop(timeoutMs?: number): Promise<number | null>;
  /** Last characters the process wrote on stderr (all its runs). */
  tail(): string;
  /** How the last run of the command ended ("code 0", "signal SIGKILL"); undefined while it runs or before any. */
  lastExit(): string | undefined;
  /** Exits the harness did not ask for (crashes), with the code and signal. */
  readonly unexpectedExits: string[];
}

function group(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    // ESRCH: the group is gone
  }
}

/** `logDir`: also append everything the command writes on stderr to logDir/name.log (to look into a failed run). */
export function pageloopService(name: string, args: readonly string[], env: NodeJS.ProcessEnv = {}, logDir?: string): Service {
  let child: ChildProcess | undefined;
  let stderr = '';
  let expecting = false;
  const unexpectedExits: string[] = [];
  let lastExit: string | undefined;
  const keep = (d: Buffer): void => {
    stderr = (stderr + d.toString()).slice(-TAIL_CHARS);
    if (logDir) appendFileSync(join(logDir, `${name}.log`), d);
  };
  const exited = (c: ChildProcess): Promise<number | null> =>
    c.exitCode !== null || c.signalCode !== null ? Promise.resolve(c.exitCode) : new Promise((r) => c.once('exit', (code) => r(code)));
  return {
    name,
    unexpectedExits,
    pid: () => (child && child.exitCode === null && child.signalCode === null ? child.pid : undefined),
    start() {
      if (child && child.exitCode === null && child.signalCode === null) return;
      expecting = false;
      const c = spawn(process.execPath, ['--enable-source-maps', PAGELOOP_MAIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env }, detached: true });
      const pgid = c.pid;
      if (pgid !== undefined) trackGroup(pgid);
      c.stderr!.on('data', keep);
      lastExit = undefined;
      c.once('exit', (code, sig) => {
        lastExit = sig ? `signal ${sig}` : `code ${code}`;
        // The leader is gone; anything left in its group dies with it (a fork of the service would be a leak).
        if (pgid !== undefined) {
          group(pgid, 'SIGKILL');
          untrackGroup(pgid);
        }
        if (!expecting) {
          unexpectedExits.push(`${name} exited (code ${code}, signal ${sig}) at ${new Date().toISOString()}`);
          // Said at once: a crash mid-run is the finding, and a SIGTERMed harness prints no report.
          process.stderr.write(`[chaos] ${name} exited unexpectedly (code ${code}, signal ${sig}); its stderr ends:\n${stderr.slice(-3000)}\n`);
        }
      });
      child = c;
    },
    signal(sig) {
      if (sig === 'SIGKILL') expecting = true;
      if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) group(child.pid, sig);
    },
    async kill() {
      const c = child;
      if (!c || c.pid === undefined) return;
      expecting = true;
      group(c.pid, 'SIGCONT');
      group(c.pid, 'SIGKILL');
      await exited(c);
    },
    async stop(timeoutMs = 60_000) {
      const c = child;
      if (!c || c.pid === undefined || c.exitCode !== null || c.signalCode !== null) return c?.exitCode ?? null;
      expecting = true;
      const pgid = c.pid;
      group(pgid, 'SIGCONT');
      // SIGTERM to the leader only: it stops cleanly (commits, closes); the group is killed once it exits.
      c.kill('SIGTERM');
      const timer = setTimeout(() => group(pgid, 'SIGKILL'), timeoutMs);
      const code = await exited(c);
      clearTimeout(timer);
      return code;
    },
    tail: () => stderr,
    lastExit: () => lastExit,
  };
}
