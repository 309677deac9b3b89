// The study's settings in a pipeline's corpus section are checked once, when the file is loaded
// (`langquant plan`), each problem with the file's line: a typo is an error there, not a silent
// default inside a child process. The study contributes the schema (kinds.ts exports `corpus`).
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KindRegistry } from '../../src/pipeline/kind.ts';
import { loadPipeline, PipelineError } from '../../src/pipeline/spec.ts';
import { runCli } from '../helpers/cli.ts';

const KINDS = fileURLToPath(new URL('../../src/study/kinds.ts', import.meta.url));
const FIXTURE_KINDS = fileURLToPath(new URL('../fixtures/pipelines/kinds.ts', import.meta.url));
const registry = await KindRegistry.load([KINDS]);

function pipeline(corpus: string, kind = 'baseline'): string {
  const dir = mkdtempSync(join(tmpdir(), 'lq-corpus-'));
  const file = join(dir, 'p.yaml');
  writeFileSync(
    file,
    `kinds: ${FIXTURE_KINDS}\nmodels: { base: ./model }\ncorpus:\n${corpus}\nexperiments:\n  - { id: A, kind: ${kind} }\n`,
  );
  return file;
}
const GROUPS = '  groups: { high: [eng, fra], low: [swh, yor] }';

async function problems(file: string): Promise<string[]> {
  try {
    await loadPipeline(file, registry);
    return [];
  } catch (e) {
    assert.ok(e instanceof PipelineError, String(e));
    return e.problems;
  }
}

test('valid study corpus settings load', async () => {
  const file = pipeline(
    `  name: udhr\n  adequacy: refuse\n  minUnits: 5\n  includeIncomplete: true\n  unseen: { base: [ibo] }\n  split: { trainingSeed: 1, trainingShare: 0.3, calibrationShare: 0.2 }\n${GROUPS}`,
  );
  assert.deepEqual(await problems(file), []);
});

test('each bad corpus setting is named with its line', async () => {
  const file = pipeline(
    `  adequacy: refuze\n  minUnits: 1\n  includeIncomplete: yes please\n  unseen: ibo\n  split: { trainingShare: 0.7, calibrationShare: 0.4, seed: 3 }\n  minUnit: 10\n  groups: { hihg: [eng], low: [swh] }`,
  );
  const p = await problems(file);
  const has = (re: RegExp) =>
    assert.ok(
      p.some((x) => re.test(x)),
      `${re} in:\n${p.join('\n')}`,
    );
  has(/p\.yaml:4: corpus\.adequacy: Invalid option: expected one of "warn"\|"refuse"/);
  has(/p\.yaml:5: corpus\.minUnits: /);
  has(/p\.yaml:6: corpus\.includeIncomplete: /);
  has(/p\.yaml:7: corpus\.unseen: /);
  has(/p\.yaml:8: corpus\.split: Unrecognized key: "seed"/);
  has(/p\.yaml:8: corpus\.split: the shares leave nothing to evaluate/);
  has(/p\.yaml:9: corpus\.minUnit: not a corpus setting \(known: .*minUnits/);
  has(/p\.yaml:10: corpus\.groups\.high: the study needs a language group 'high'/);
});

test("a pipeline of other kinds is not held to the study's corpus settings", async () => {
  assert.deepEqual(await problems(pipeline('  groups: { a: [x] }\n  anything: 1', 'emit')), []);
});

test('langquant plan stops at a corpus typo, naming the line', () => {
  const file = pipeline(`  adequacy: refuze\n${GROUPS}`);
  const r = runCli(['plan', file]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /^langquant: .*p\.yaml:4: corpus\.adequacy: Invalid option/);
});
