/**
 * One pageloop command (dist/cli/main.js) as a child process the chaos run
 * can SIGKILL, SIGSTOP/SIGCONT, restart with the same arguments, and stop
 * cleanly (SIGTERM, then wait for its exit). Keeps the tail of its stderr so
 * a run that fails can say what the process said last.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

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
  /** Exits the harness did not ask for (crashes), with the code and signal. */
  readonly unexpectedExits: string[];
}

export function pageloopService(name: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Service {
  let child: ChildProcess | undefined;
  let stderr = '';
  let expecting = false;
  const unexpectedExits: string[] = [];
  const keep = (d: Buffer): void => {
    stderr = (stderr + d.toString()).slice(-TAIL_CHARS);
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
      const c = spawn(process.execPath, ['--enable-source-maps', PAGELOOP_MAIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
      c.stderr!.on('data', keep);
      c.once('exit', (code, sig) => {
        if (!expecting) unexpectedExits.push(`${name} exited (code ${code}, signal ${sig}) at ${new Date().toISOString()}`);
      });
      child = c;
    },
    signal(sig) {
      if (sig === 'SIGKILL') expecting = true;
      child?.kill(sig);
    },
    async kill() {
      const c = child;
      if (!c) return;
      expecting = true;
      c.kill('SIGCONT');
      c.kill('SIGKILL');
      await exited(c);
    },
    async stop(timeoutMs = 60_000) {
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return c?.exitCode ?? null;
      expecting = true;
      c.kill('SIGCONT');
      c.kill('SIGTERM');
      const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
      const code = await exited(c);
      clearTimeout(timer);
      return code;
    },
    tail: () => stderr,
  };
}
