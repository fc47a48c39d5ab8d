/**
 * The systemd units in deploy/systemd run real subcommands with flags those
 * subcommands accept, and the example config they point at validates.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { validateConfig } from '../../schemas/validate.js';

const here = dirname(fileURLToPath(import.meta.url));
// dist/deploy/systemd -> the source tree's deploy/systemd.
const committed = join(here, '..', '..', '..', 'deploy', 'systemd');
const cli = join(here, '..', '..', 'cli', 'main.js');
const PREFIX = '/usr/bin/env pageloop ';

/** The [Service] section's keys (these units give each key once). */
function serviceSection(text: string): Map<string, string> {
  const keys = new Map<string, string>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) section = header[1]!;
    else if (section === 'Service') {
      const eq = line.indexOf('=');
      assert.ok(eq > 0, `not a key=value line: ${line}`);
      keys.set(line.slice(0, eq), line.slice(eq + 1));
    }
  }
  return keys;
}

describe('systemd units', () => {
  const units = readdirSync(committed).filter((f) => f.endsWith('.service'));

  it('there is one for the agent, the processors and the sink', () => {
    assert.deepEqual(units.sort(), ['pageloop-agent.service', 'pageloop-processors.service', 'pageloop-sink.service']);
  });

  for (const unit of units) {
    it(`${unit}: ExecStart is a pageloop subcommand whose flags parse`, () => {
      const service = serviceSection(readFileSync(join(committed, unit), 'utf8'));
      const exec = service.get('ExecStart');
      assert.ok(exec !== undefined, `${unit}: no ExecStart in [Service]`);
      assert.ok(exec.startsWith(PREFIX), `${unit}: ExecStart should run ${PREFIX.trim()}`);
      const args = exec.slice(PREFIX.length).split(/\s+/);
      assert.ok(args.includes('--config') && args[args.indexOf('--config') + 1] === '/etc/pageloop/config.json');
      // --help after the unit's own flags: an unknown flag or command exits 2 instead.
      const run = spawnSync(process.execPath, [cli, ...args, '--help'], { encoding: 'utf8' });
      assert.equal(run.status, 0, `${unit}: pageloop ${args.join(' ')} --help: ${run.stderr}`);
      assert.match(run.stdout, new RegExp(`^usage: pageloop ${args[0]}`));
      assert.equal(service.get('KillSignal'), 'SIGTERM');
    });
  }

  it('the example config they read validates', () => {
    const config = validateConfig(JSON.parse(readFileSync(join(committed, 'config.example.json'), 'utf8')));
    assert.deepEqual(config.kafka?.brokers, ['kafka-1.example.internal:9092', 'kafka-2.example.internal:9092']);
    assert.equal(config.feedback?.dryRun, true);
  });
});
