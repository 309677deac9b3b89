// Pipeline file loading: every rule check names its culprit and its line; the JSON Schema is current.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KindRegistry } from '../../src/pipeline/kind.ts';
import { loadPipeline, normalisePipeline, parsePipelineText, PipelineError } from '../../src/pipeline/spec.ts';
import { SCHEMA_PATH, schemaText } from '../../src/pipeline/write-schema.ts';
import { runCli } from '../helpers/cli.ts';

const KINDS = fileURLToPath(new URL('../fixtures/pipelines/kinds.ts', import.meta.url));
const registry = await KindRegistry.load([KINDS]);

function load(yaml: string) {
  const { raw, lineOf } = parsePipelineText(yaml, 'p.yaml');
  return normalisePipeline(raw, '/x/p.yaml', registry, lineOf);
}
function problems(yaml: string): string[] {
  try {
    load(yaml);
  } catch (e) {
    assert.ok(e instanceof PipelineError, String(e));
    return (e as PipelineError).problems;
  }
  assert.fail('expected the pipeline to be rejected');
}

const ok = `
seed: 3
timeout: 90s
corpus: { groups: { low: [sw] } }
experiments:
  - id: A-1
    kind: sleep
    params: { ms: 1 }
  - id: A-2
    kind: emit
    dependsOn: [A-1]
    timeout: 1h30m
    expectedRuntime: 500ms
`;

test('a valid file is normalised (defaults, durations, params) and frozen', () => {
  const s = load(ok);
  assert.equal(s.seed, 3);
  assert.equal(s.experiments[0].timeoutMs, 90_000);
  assert.equal(s.experiments[1].timeoutMs, 5_400_000);
  assert.equal(s.experiments[1].expectedRuntimeMs, 500);
  assert.deepEqual(s.experiments[1].params, { values: { en: 1, fr: 2, sw: 3 }, noise: 0, sleepMs: 0 });
  assert.equal(s.killGraceMs, 5000);
  assert.ok(Object.isFrozen(s) && Object.isFrozen(s.experiments[0]) && Object.isFrozen(s.experiments[0].params));
  assert.throws(() => ((s.experiments[0] as { id: string }).id = 'x'));
});

test('an unknown kind is named, with its line and the known kinds', () => {
  const p = problems(ok.replace('kind: sleep', 'kind: slep'));
  assert.match(p[0], /^\/x\/p\.yaml:7: experiments\[0\] \(A-1\): unknown kind 'slep' \(known kinds: .*sleep/);
});

test('an unknown dependency names its id', () => {
  assert.match(
    problems(ok.replace('dependsOn: [A-1]', 'dependsOn: [A-9]'))[0],
    /:11: experiments\[1\] \(A-2\): dependsOn names 'A-9', which is not an experiment id/,
  );
});

test('a cycle names the ids around it', () => {
  const y = ok.replace('    kind: sleep\n', '    kind: sleep\n    dependsOn: [A-2]\n');
  assert.match(problems(y)[0], /dependency cycle: A-1 → A-2 → A-1/);
});

test('a duplicate id is named', () => {
  assert.match(problems(ok.replace('id: A-2', 'id: A-1'))[0], /:9: experiments\[1\]: duplicate experiment id 'A-1'/);
});

test('a YAML syntax error gives its line', () => {
  const y = 'experiments:\n  - id: A\n    kind: [sleep\n    params: {}\n';
  assert.throws(
    () => parsePipelineText(y, 'p.yaml'),
    (e: Error) => /^p\.yaml:\d+: YAML syntax error/.test(e.message),
  );
  const dup = 'experiments: []\nexperiments: []\n';
  assert.throws(() => parsePipelineText(dup, 'p.yaml'), /p\.yaml:2: YAML syntax error: .*[Mm]ap keys must be unique/);
});

test('a timeout that is not a duration is named', () => {
  assert.match(
    problems(ok.replace('timeout: 1h30m', 'timeout: 5 parsecs'))[0],
    /:12: experiments\[1\] \(A-2\)\.timeout: '5 parsecs' is not a duration; write e\.g\. 500ms, 90s, 5m or 1h30m/,
  );
});

test('bad params, unknown fields and bad rules are named', () => {
  assert.match(
    problems(ok.replace('params: { ms: 1 }', "params: { ms: 'x' }"))[0],
    /:8: experiments\[0\] \(A-1\)\.params\.ms: .*number/,
  );
  assert.match(
    problems(ok.replace('    kind: sleep\n', '    kind: sleep\n    dependson: [A-2]\n'))[0],
    /experiments\[0\] \(A-1\): Unrecognized key: "dependson"/,
  );
  const withQ = (rule: string) =>
    `${ok}questions:\n  - id: Q1\n    question: Q?\n    experiments: [A-2]\n    rule: ${rule}\n`;
  assert.match(
    problems(
      withQ(
        "{ values: { x: { experiment: A-2, metric: score } }, cases: [{ when: 'y > 1', status: CONFIRMED }], evidence: '{x}' }",
      ),
    )[0],
    /cases\[0\]\.when uses 'y', which is not one of its values or params \(x\)/,
  );
  assert.match(
    problems(
      withQ(
        "{ values: { x: { experiment: A-2, metric: score } }, cases: [{ when: 'x >', status: CONFIRMED }], evidence: '{x}' }",
      ),
    )[0],
    /expected a value at the end/,
  );
  assert.match(
    problems(
      withQ(
        "{ values: { x: { experiment: B-1, metric: s, language: '@mid' } }, cases: [{ status: PARTIAL }], evidence: '{x:.2q}' }",
      ),
    ).join('\n'),
    /format '\.2q'[\s\S]*'B-1' is not an experiment id[\s\S]*'@mid' names no language group \(known: low\)/,
  );
  assert.match(problems(withQ('{ values: {}, cases: [{ status: MAYBE }] }'))[0], /status/);
  assert.match(problems(withQ('{ fn: nope }'))[0], /no rule function 'nope'/);
  // A declarative rule's params: numeric constants, named unlike its values, usable in when and evidence.
  const withParams = (params: string) =>
    withQ(
      `{ params: ${params}, values: { x: { experiment: A-2, metric: score } }, cases: [{ when: 'x <= m', status: REFUTED }], evidence: '{x} within {m}' }`,
    );
  const q = load(withParams('{ m: 1.25 }')).questions[0].rule;
  assert.ok(q && 'values' in q);
  assert.deepEqual(q.params, { m: 1.25 });
  assert.match(problems(withParams("{ m: 'wide' }"))[0], /rule\.params\.m: 'wide' is not a number/);
  assert.match(problems(withParams('{ m: 1, x: 2 }'))[0], /rule\.params\.x: the name is also a value's/);
  assert.match(problems(withParams("{ m: 1, 'a-b': 2 }"))[0], /rule\.params: 'a-b' is not an identifier/);
  assert.match(
    problems(
      withQ(
        "{ params: { k: 1 }, values: { x: { experiment: A-2, metric: score } }, cases: [{ when: 'x > j', status: CONFIRMED }], evidence: '{x}' }",
      ),
    )[0],
    /uses 'j', which is not one of its values or params \(x, k\)/,
  );
});

test('model aliases: unknown ones are named; --model overrides resolve against the working folder', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lq-spec-'));
  const file = join(dir, 'p.yaml');
  writeFileSync(
    file,
    `kinds: ${KINDS}\nmodels: { m: ./model }\nexperiments:\n  - { id: E, kind: emit, params: { model: q } }\n`,
  );
  await assert.rejects(
    loadPipeline(file, new KindRegistry()),
    /uses model alias 'q', which the pipeline's models: does not define \(it has: m\)/,
  );
  writeFileSync(
    file,
    `kinds: ${KINDS}\nmodels: { m: ./model }\nexperiments:\n  - { id: E, kind: emit, params: { model: m } }\n`,
  );
  const { spec } = await loadPipeline(file, new KindRegistry(), { models: { m: 'other' }, cwd: '/tmp' });
  assert.equal(spec.models.m.path, '/tmp/other');
  assert.deepEqual(spec.experiments[0].models, ['m']);
  await assert.rejects(
    loadPipeline(file, new KindRegistry(), { models: { z: 'x' } }),
    /--model z=x: the pipeline has no model alias 'z' \(it has: m\)/,
  );
});

test('the shipped JSON Schema is current (regenerate: node --import tsx src/pipeline/write-schema.ts)', () => {
  assert.equal(readFileSync(SCHEMA_PATH, 'utf8'), schemaText());
});

test('the CLI prints a pipeline error as one line and exits non-zero', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lq-spec-'));
  const file = join(dir, 'bad.yaml');
  writeFileSync(
    file,
    `kinds: ${KINDS}\nexperiments:\n  - { id: A, kind: sleep, params: { ms: 1 }, timeout: 5 parsecs }\n`,
  );
  const r = runCli(['plan', file]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /bad\.yaml:3: experiments\[0\] \(A\)\.timeout: '5 parsecs' is not a duration/);
  const r2 = runCli(['run', join(dir, 'missing.yaml')]);
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /pipeline file .*missing\.yaml does not exist/);
});
