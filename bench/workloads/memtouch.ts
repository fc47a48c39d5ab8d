/**
 * Drives bench/build/memtouch, a workload that faults only when told to, so a
 * test can read the kernel's counters for it at quiet points.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export function memtouchPath(): string {
  for (const p of [join(here, '..', 'build', 'memtouch'), join(here, '..', '..', '..', 'bench', 'build', 'memtouch')]) {
    if (existsSync(p)) return p;
  }
  throw new Error("bench/build/memtouch is not built: run 'npm run build'");
}

export interface Memtouch {
  readonly pid: number;
  /** Sends one command; resolves with the text after 'ok', rejects on 'err'. */
  send(command: string): Promise<string>;
  map(name: string, mib: number, mode?: 'plain' | 'hugepage' | 'nohugepage'): Promise<number>;
  exit(): Promise<void>;
  kill(): void;
}

/** `binary`: another copy of memtouch (e.g. under another name, so its comm differs). */
export function startMemtouch(binary: string = memtouchPath()): Promise<Memtouch> {
  const child: ChildProcessWithoutNullStreams = spawn(binary, [], { stdio: ['pipe', 'pipe', 'pipe'] });
  let buffered = '';
  const waiters: Array<{ resolve: (s: string) => void; reject: (e: Error) => void; command: string }> = [];
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      const w = waiters.shift();
      if (!w) continue;
      if (line.startsWith('ok')) w.resolve(line.slice(2).trim());
      else w.reject(new Error(`memtouch '${w.command}': ${line}`));
    }
  });
  child.on('exit', (code) => {
    for (const w of waiters.splice(0)) w.reject(new Error(`memtouch exited (${code}) during '${w.command}'`));
  });
  const send = (command: string) =>
    new Promise<string>((resolve, reject) => {
      waiters.push({ resolve, reject, command });
      child.stdin.write(command + '\n');
    });
  const handle: Memtouch = {
    pid: child.pid!,
    send,
    async map(name, mib, mode = 'plain') {
      return parseInt(await send(`map ${name} ${mib} ${mode}`), 16);
    },
    async exit() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      await send('exit').catch(() => undefined);
      await exited;
    },
    kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
  return send('pid').then(() => handle);
}
