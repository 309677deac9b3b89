// The guards on the study's evaluation texts (src/study/texts.ts): the adequacy check of
// src/data/adequacy.ts (warn → log lines and the adequacy_warnings metric; corpus.adequacy: refuse →
// a failed experiment with the one-line message), corpus.includeIncomplete reaching the UDHR corpus,
// and the refusal of evaluation units a built-in model was trained on (its training.json).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import {
  checkTrainingHoldOut,
  evaluationTexts,
  readTrainingRecord,
  studyCorpus,
  studyCorpusOptions,
  studyTexts,
} from '../../src/study/texts.ts';
import { describeMetric } from '../../src/study/metrics.ts';
import { splitUnits, UDHR_UNIT_IDS } from '../../src/data/splits.ts';
import { ConfigError, DataError } from '../../src/errors.ts';
import { runCli } from '../helpers/cli.ts';

const GPT2_MINI = fileURLToPath(new URL('../../models/gpt2-mini/', import.meta.url));
const groups = { high: ['eng'], low: ['yor'] };
/** A tokenizer of one id per UTF-16 code unit: enough to count tokens. */
const charTok = { encode: (s: string) => Array.from(s, (c) => c.charCodeAt(0)) };

function collect() {
  const logs: string[] = [];
  const metrics: { name: string; value: number; model?: string | null }[] = [];
  return {
    logs,
    metrics,
    log: (...parts: unknown[]) => void logs.push(parts.join(' ')),
    metric: ((name: string, value: number, where?: { model?: string | null }) =>
      void metrics.push({ name, value, model: where?.model })) as never,
  };
}

test('corpus options: defaults, and a bad value is a ConfigError naming the key', () => {
  assert.deepEqual(studyCorpusOptions({}), { includeIncomplete: false, adequacy: 'warn', minUnits: 10, unseen: [] });
  assert.throws(
    () => studyCorpusOptions({ adequacy: 'strict' }),
    (e: Error) => e instanceof ConfigError && /corpus\.adequacy/.test(e.message) && !e.message.includes('\n'),
  );
  assert.throws(() => studyCorpusOptions({ includeIncomplete: 'yes' }), /corpus\.includeIncomplete/);
  assert.throws(() => studyCorpusOptions({ minUnits: 1 }), /corpus\.minUnits/);
  assert.equal(describeMetric('adequacy_warnings')?.unit, 'count');
});

test('corpus.includeIncomplete passes through to the UDHR corpus', () => {
  // taj (Eastern Tamang) has only a stage-3 declaration.
  assert.throws(() => studyCorpus({}, ['eng', 'taj']), /incomplete/);
  const c = studyCorpus({ includeIncomplete: true }, ['eng', 'taj']);
  assert.deepEqual(c.languages, ['eng', 'taj']);
  assert.ok(c.units('taj').length > 0);
});

test('adequacy, warn: every finding logged and counted in adequacy_warnings; refuse: one-line DataError', () => {
  const t = studyTexts({ corpus: { groups }, groups, seed: 0 }, 3);
  const c = collect();
  const texts = evaluationTexts({ corpus: { groups }, ...c }, t, {
    alias: 'base',
    tokenizer: charTok,
    window: { context: 100_000 },
  });
  assert.equal(texts.get('eng')!.length, 3);
  // Two languages × (fewer than 10 units, and shorter than a 100 000-token window).
  assert.deepEqual(c.metrics, [
    { name: 'adequacy_warnings', value: 4, model: 'base' },
    { name: 'bos_prepended', value: 0, model: 'base' },
  ]);
  assert.equal(c.logs.filter((l) => l.startsWith('adequacy warning')).length, 4);
  assert.ok(c.logs.some((l) => /^adequacy warning: yor: only 3 aligned units/.test(l)));
  assert.ok(c.logs.some((l) => /^adequacy warning: eng: .*shorter than one scoring window of 100000/.test(l)));

  const ok = collect();
  evaluationTexts({ corpus: { groups, minUnits: 3 }, ...ok }, t, {
    alias: 'base',
    tokenizer: charTok,
    window: { context: 16 },
  });
  assert.deepEqual(ok.metrics, [
    { name: 'adequacy_warnings', value: 0, model: 'base' },
    { name: 'bos_prepended', value: 0, model: 'base' },
  ]);
  assert.deepEqual(ok.logs, ['base: BOS: none; the first token of each unit is context only, not scored.']);

  const r = collect();
  assert.throws(
    () =>
      evaluationTexts({ corpus: { groups, adequacy: 'refuse' }, ...r }, t, {
        alias: 'base',
        tokenizer: charTok,
        window: { context: 16 },
      }),
    (e: Error) =>
      e instanceof DataError &&
      /^evaluation text inadequate — eng: only 3 aligned units.*yor: only 3/.test(e.message) &&
      !e.message.includes('\n'),
  );
  assert.equal(r.metrics.length, 0);
});

test('evaluation texts with a BOS: every unit starts with it, bos_prepended is 1 and the convention is logged', () => {
  const t = studyTexts({ corpus: { groups }, groups, seed: 0 }, 3);
  const c = collect();
  const bos = { mode: 'auto', token: '</s>', id: 2, reason: 'tokenizer_config.json: add_bos_token true' } as const;
  const texts = evaluationTexts({ corpus: { groups, minUnits: 3 }, ...c }, t, {
    alias: 'opt',
    tokenizer: charTok,
    window: { context: 16 },
    bos,
  });
  for (const units of texts.values())
    for (const u of units) assert.deepEqual([...u.ids], [2, ...charTok.encode(u.text)]);
  assert.deepEqual(
    c.metrics.find((m) => m.name === 'bos_prepended'),
    { name: 'bos_prepended', value: 1, model: 'opt' },
  );
  assert.ok(
    c.logs.some((l) =>
      /^opt: BOS: <\/s> \(id 2\) is put before each text \(params\.bos auto: tokenizer_config\.json: add_bos_token true\)/.test(
        l,
      ),
    ),
    c.logs.join('\n'),
  );
  assert.equal(describeMetric('bos_prepended')?.unit, '0/1');
});

test('training hold-out: the built-in models record their split; a pipeline split that evaluates their training units is refused', () => {
  const rec = readTrainingRecord(GPT2_MINI)!;
  assert.equal(rec.corpus, 'udhr');
  assert.equal(rec.trainingSeed, 0);
  assert.equal(rec.trainingShare, 0.4);
  assert.ok(rec.languages!.includes('eng') && !rec.languages!.includes('khm'));
  assert.equal(readTrainingRecord(tmpdir()), null);

  const models = { base: { alias: 'base', path: GPT2_MINI, hash: 'x' } };
  // The default split (trainingSeed 0, share 0.4) is the trainer's: nothing overlaps.
  studyTexts({ corpus: { groups }, groups, seed: 3, models }, undefined, 'base');
  // A larger share with the same seed holds out a superset: fine.
  studyTexts({ corpus: { groups, split: { trainingShare: 0.5 } }, groups, seed: 3, models }, undefined, 'base');

  const trained = new Set(splitUnits(UDHR_UNIT_IDS, { seed: 0 }).training);
  const corpus = { groups, split: { trainingShare: 0.1 } };
  const evaluation = studyTexts({ corpus, groups, seed: 3 }).evaluation; // no alias: no check
  const overlap = evaluation.filter((id) => trained.has(id));
  assert.ok(overlap.length > 0);
  assert.throws(
    () => studyTexts({ corpus, groups, seed: 3, models }, undefined, 'base'),
    (e: Error) =>
      e instanceof ConfigError &&
      e.message.startsWith(
        `model 'base' (${GPT2_MINI}) was trained on evaluation unit(s) ${overlap.join(', ')} in eng, yor`,
      ) &&
      /set corpus\.split\.trainingSeed to 0 and trainingShare to at least 0\.4/.test(e.message) &&
      !e.message.includes('\n'),
  );
  // Another training seed moves the training units into evaluation too.
  assert.throws(
    () => studyTexts({ corpus: { groups, split: { trainingSeed: 5 } }, groups, seed: 3, models }, undefined, 'base'),
    /model 'base' .* was trained on evaluation unit/,
  );
});

test('training hold-out: languages the model was not trained on, other corpora and recorded seeds', () => {
  const dir = mkdtempSync(join(tmpdir(), 'langquant-holdout-'));
  try {
    const j = JSON.parse(readFileSync(join(GPT2_MINI, 'training.json'), 'utf8'));
    const all = [...UDHR_UNIT_IDS];
    const write = (data: Record<string, unknown>) =>
      writeFileSync(join(dir, 'training.json'), JSON.stringify({ ...j, data: { ...j.data, ...data } }));
    const seed0 = splitUnits(UDHR_UNIT_IDS, { seed: 0 }).training;
    // Trained only on khm: evaluating eng on its training units is not a leak.
    write({ trainTokens: { khm: 100 } });
    checkTrainingHoldOut('m', dir, { corpus: 'udhr', languages: ['eng'], evaluation: all });
    assert.throws(
      () => checkTrainingHoldOut('m', dir, { corpus: 'udhr', languages: ['eng', 'khm'], evaluation: all }),
      new RegExp(`unit\\(s\\) ${seed0.join(', ')} in khm`),
    );
    // Unit ids of another corpus name other texts.
    checkTrainingHoldOut('m', dir, { corpus: '/data/flores', languages: ['khm'], evaluation: all });
    // A numeric trainingSeed/trainingShare recorded by the trainer wins over the text.
    write({ trainingSeed: 7, trainingShare: 0.3 });
    const seed7 = splitUnits(UDHR_UNIT_IDS, { seed: 0, trainingSeed: 7, trainingShare: 0.3 }).training;
    assert.deepEqual(readTrainingRecord(dir), {
      corpus: 'udhr',
      trainingSeed: 7,
      trainingShare: 0.3,
      languages: Object.keys(j.data.trainTokens),
    });
    checkTrainingHoldOut('m', dir, {
      corpus: 'udhr',
      languages: ['eng'],
      evaluation: all.filter((id) => !seed7.includes(id)),
    });
    assert.throws(
      () => checkTrainingHoldOut('m', dir, { corpus: 'udhr', languages: ['eng'], evaluation: [seed7[0]] }),
      /trainingSeed 7, trainingShare 0\.3/,
    );
    writeFileSync(join(dir, 'training.json'), '{ not json');
    assert.throws(
      () => readTrainingRecord(dir),
      (e: Error) => e instanceof DataError && /training\.json is not readable JSON/.test(e.message),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test(
  'the CLI: adequacy warn records the metric, refuse and a leaking split fail the experiment with one line',
  { timeout: 60_000 },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'langquant-checks-'));
    try {
      const pipeline = (name: string, corpus: Record<string, unknown>) => {
        const file = join(dir, `${name}.yaml`);
        writeFileSync(
          file,
          stringify({
            name,
            models: { base: GPT2_MINI },
            corpus: { ...corpus, groups },
            experiments: [{ id: 'A-001', kind: 'baseline', params: { model: 'base', maxUnits: 3 } }],
          }),
        );
        return file;
      };
      const warn = runCli(['run', pipeline('warn', {}), '--out', join(dir, 'warn')]);
      assert.equal(warn.code, 0, warn.stdout + warn.stderr);
      const log = readFileSync(join(dir, 'warn', 'logs', 'A-001.r0.log'), 'utf8');
      assert.match(log, /adequacy warning: eng: only 3 aligned units/);
      assert.match(log, /base: BOS: none \(params\.bos auto: no add_bos_token/);
      const Database = createRequire(import.meta.url)('better-sqlite3');
      const db = new Database(join(dir, 'warn', 'langquant.sqlite'), { readonly: true });
      try {
        const rows = db.prepare("SELECT model, language, value FROM metrics WHERE metric = 'adequacy_warnings'").all();
        assert.deepEqual(rows, [{ model: 'base', language: null, value: 2 }]);
        // The built-in gpt2-mini follows its own convention (no BOS) under the default params.bos: auto.
        assert.deepEqual(
          db.prepare("SELECT model, language, value FROM metrics WHERE metric = 'bos_prepended'").all(),
          [{ model: 'base', language: null, value: 0 }],
        );
      } finally {
        db.close();
      }

      const refuse = runCli(['run', pipeline('refuse', { adequacy: 'refuse' }), '--out', join(dir, 'refuse')]);
      assert.notEqual(refuse.code, 0);
      assert.match(
        refuse.stdout,
        /A-001 FAILED: replicate 0: evaluation text inadequate — eng: only 3 aligned units[^\n]*yor: only 3 aligned units[^\n]*\n/,
      );

      const leak = runCli(['run', pipeline('leak', { split: { trainingShare: 0.2 } }), '--out', join(dir, 'leak')]);
      assert.notEqual(leak.code, 0);
      assert.match(
        leak.stdout,
        /A-001 FAILED: replicate 0: model 'base' \(.*gpt2-mini\/?\) was trained on evaluation unit\(s\) [\w-, ]+ in eng, yor[^\n]*trainingShare to at least 0\.4/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  'the CLI: params.bos always puts <|endoftext|> before each unit of gpt2-mini: bos_prepended 1, one more scored token per unit',
  { timeout: 60_000 },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'langquant-bos-study-'));
    try {
      const file = join(dir, 'bos.yaml');
      const experiments = [
        { id: 'A-001', kind: 'baseline', params: { model: 'base', maxUnits: 3 } },
        { id: 'A-002', kind: 'baseline', params: { model: 'base', maxUnits: 3, bos: 'always' } },
      ];
      writeFileSync(
        file,
        stringify({ name: 'bos', models: { base: GPT2_MINI }, corpus: { groups, minUnits: 3 }, experiments }),
      );
      const r = runCli(['run', file, '--out', join(dir, 'out')]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(
        readFileSync(join(dir, 'out', 'logs', 'A-002.r0.log'), 'utf8'),
        /base: BOS: <\|endoftext\|> \(id \d+\) is put before each text \(params\.bos always/,
      );
      const Database = createRequire(import.meta.url)('better-sqlite3');
      const db = new Database(join(dir, 'out', 'langquant.sqlite'), { readonly: true });
      try {
        const q = (metric: string, language: string | null) =>
          db
            .prepare(
              'SELECT experiment_id AS id, value FROM metrics WHERE metric = ? AND language IS ? ORDER BY experiment_id',
            )
            .all(metric, language) as { id: string; value: number }[];
        assert.deepEqual(
          q('bos_prepended', null).map((x) => [x.id, x.value]),
          [
            ['A-001', 0],
            ['A-002', 1],
          ],
        );
        for (const lang of ['eng', 'yor']) {
          const [auto, always] = q('tokens', lang);
          assert.equal(always.value - auto.value, 3, `${lang}: the first token of each of the 3 units is scored too`);
        }
      } finally {
        db.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
