/**
 * Running the outside tools the local Kafka needs (mvn, java) to completion,
 * keeping their output for error messages.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export function javaBin(): string {
  return process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

export interface RunResult {
  readonly status: number | null;
  readonly output: string;
  readonly spawnError?: NodeJS.ErrnoException;
}

/** Runs a tool to completion, keeping its combined output for error messages. */
export function runTool(cmd: string, args: readonly string[], options: { cwd?: string; timeoutMs: number }): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => chunks.push(b));
    child.stderr.on('data', (b: Buffer) => chunks.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ status: null, output: '', spawnError: err });
    });
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, output: Buffer.concat(chunks).toString('utf8') });
    });
  });
}

export function tail(text: string, lines = 25): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

export function tailOfFile(file: string, lines = 25): string {
  try {
    return tail(readFileSync(file, 'utf8'), lines);
  } catch {
    return '';
  }
}

/** The JDK version the broker would run on, or undefined when there is no java (for `pageloop doctor`). */
export function javaVersion(): string | undefined {
  const r = spawnSync(javaBin(), ['-version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return undefined;
  return /version "([^"]+)"/.exec(r.stderr)?.[1];
}
