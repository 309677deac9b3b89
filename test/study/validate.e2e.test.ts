// D-001/D-002 (kind `validate`) rank languages by ΔBPB: with fewer than 3 study languages the rank
// correlation says nothing, and the experiment must say so, naming the languages, before it scores
// anything, rather than blaming its reference experiment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reducedBuiltin } from '../helpers/builtin.ts';
import { runCli } from '../helpers/cli.ts';

test('validate with two study languages fails with what to do, and the experiments before it stand', () => {
  const dir = mkdtempSync(join(tmpdir(), 'langquant-validate-'));
  try {
    const file = reducedBuiltin(dir, {
      groups: { high: ['eng'], low: ['yor'] },
      experiment: (e) => {
        if (['baseline', 'quantize', 'validate'].includes(e.kind))
          Object.assign(e.params, { maxUnits: 3, resamples: 200 });
      },
    });
    const out = join(dir, 'run');
    const r = runCli(['run', file, '--out', out, '--replicates', '1', '--only', 'A-001,A-002,A-003,D-001']);
    assert.notEqual(r.code, 0);
    assert.match(r.stdout, /done: 3 passed, 1 failed \(D-001\)/);
    assert.match(
      r.stdout,
      /D-001 ranks languages by ΔBPB and needs at least 3 study languages \(the corpus gives 2: eng, yor\)/,
    );
    assert.doesNotMatch(r.stdout + r.stderr, /rerun it with the same language groups|at .*\.js:\d+/);
    const s = JSON.parse(runCli(['status', out, '--json']).stdout);
    const d = s.experiments.find((e: { id: string }) => e.id === 'D-001');
    assert.equal(d.status, 'failed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
