/**
 * Where the local broker started by `pageloop kafka start` is, read from the
 * state file it leaves in its data directory. Every Kafka client uses this to
 * find Kafka when given no bootstrap servers, so it lives beside the client
 * (deploy/kafka/local-kafka.ts writes the file).
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

type Env = Readonly<Record<string, string | undefined>>;
/**
 * $PAGELOOP_KAFKA_DATA_DIR, else $XDG_STATE_HOME/pageloop/kafka, else
 * ~/.local/state/pageloop/kafka. Per user rather than /var/lib, so the same
 * default works with and without root, and kafka/client.ts can find the
 * state file with no configuration.
 */
export function defaultDataDir(env: Env = process.env): string {
  if (env.PAGELOOP_KAFKA_DATA_DIR) return env.PAGELOOP_KAFKA_DATA_DIR;
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'pageloop', 'kafka');
}


/** What a running local broker leaves in <dataDir>/kafka.json for other commands. */
export interface LocalKafkaState {
  readonly pid: number;
  readonly bootstrap: string;
  readonly controller: string;
  readonly version: string;
  readonly dataDir: string;
  readonly startedAt: string;
}


export function stateFilePath(dataDir: string = defaultDataDir()): string {
  return join(dataDir, 'kafka.json');
}

/** The process's command line, or undefined when it is gone or a zombie. */
export function cmdlineOf(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 3, after the parenthesised command name; a zombie has exited and only waits to be reaped.
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return undefined;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return undefined;
  }
}

/**
 * Whether pid is the broker of this data directory. Checked by command line,
 * not by kill(pid, 0), so a pid reused after a reboot never gets signalled.
 */
export function isOurBroker(pid: number, serverProperties: string): boolean {
  const argv = cmdlineOf(pid);
  return argv !== undefined && argv.includes('kafka.Kafka') && argv.includes(serverProperties);
}

export function readPid(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

export function parseState(text: string): LocalKafkaState | undefined {
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== 'object' || v === null) return undefined;
    const s = v as Record<string, unknown>;
    if (typeof s.pid !== 'number' || typeof s.bootstrap !== 'string') return undefined;
    return {
      pid: s.pid,
      bootstrap: s.bootstrap,
      controller: typeof s.controller === 'string' ? s.controller : '',
      version: typeof s.version === 'string' ? s.version : '',
      dataDir: typeof s.dataDir === 'string' ? s.dataDir : '',
      startedAt: typeof s.startedAt === 'string' ? s.startedAt : '',
    };
  } catch {
    return undefined;
  }
}

/**
 * The state of the local broker of dataDir if it is running, else undefined.
 * Other commands use this to find Kafka when given no bootstrap servers.
 */
export function readLocalKafkaState(dataDir: string = defaultDataDir()): LocalKafkaState | undefined {
  let text: string;
  try {
    text = readFileSync(stateFilePath(dataDir), 'utf8');
  } catch {
    return undefined;
  }
  const state = parseState(text);
  if (!state || !isOurBroker(state.pid, join(dataDir, 'server.properties'))) return undefined;
  return state;
}

