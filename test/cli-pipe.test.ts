// `langquant nll … | head -c 100`: when the reader stops early the CLI ends quietly, as Unix tools
// do — no EPIPE stack trace, exit status 0.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Rng } from '../src/util/rng.ts';
import { tempDir } from './helpers/checkpoints.ts';
import { BIN, GOLDEN } from './helpers/cli.ts';

test('nll piped into head -c 100 ends quietly (no EPIPE stack trace, exit 0)', (t) => {
  const dir = tempDir(t);
  // 400 sequences of 128 ids: some 800 kB of JSON, far more than a pipe holds, so the write is cut.
  const rng = new Rng(7);
  const ids = Array.from({ length: 400 }, () => Array.from({ length: 128 }, () => rng.int(1000)));
  const file = join(dir, 'ids.json');
  writeFileSync(file, JSON.stringify(ids));
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const r = spawnSync(
    'bash',
    [
      '-c',
      `set -o pipefail; ${q(process.execPath)} ${q(BIN)} nll --model ${q(`${GOLDEN}models/gpt2-a`)} --ids ${q(file)} | head -c 100`,
    ],
    { encoding: 'utf8', timeout: 120_000 },
  );
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
  assert.equal(r.stdout.length, 100);
  assert.match(r.stdout, /^\{"sequences":\[\{"length":128,"nll":\[/);
});
