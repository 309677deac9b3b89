// The run folder's per-unit score cache on the built-in study (pipelines/disparity.yaml, shipped mini
// models), reduced to 2 + 2 languages with every evaluation unit (13 per replicate, redrawn by each
// replicate from a pool of 19; fewer units make A-002's replicates disagree in sign, which fails it):
// A-001…A-003 with 2 replicates, B-001 (activation-aware preservation, with selection units), B-005
// (5-bit RTN) and D-001/D-002 (the other two models), run by the real CLI
// with the cache, without it (--no-score-cache), and again with everything forced from the cache;
// and C-001 alone in a fresh folder with --jobs 2, where it is given a helper lane.
// Every stored metric and every artifact must be identical, bit for bit, across the three runs; the
// second replicate of A-001 and A-002 must score fewer units than the first; the forced rerun must
// score none.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { MetricRow } from '../../src/pipeline/kind.ts';
import { MEASURING, reducedBuiltin } from '../helpers/builtin.ts';
import { runCli } from '../helpers/cli.ts';
import { withStore } from '../helpers/store.ts';

const ONLY = ['A-001', 'A-002', 'A-003', 'B-001', 'B-005', 'C-001', 'D-001', 'D-002'];

function reducedPipeline(dir: string): string {
  return reducedBuiltin(dir, {
    groups: { high: ['eng', 'fra'], low: ['yor', 'swh'] },
    experiment: (e) => {
      if (MEASURING.has(e.kind)) e.params.resamples = 100;
      if (e.kind === 'disparity' || e.kind === 'preservationControls') e.params.resamples = 100;
      if (e.kind === 'preserve' || e.kind === 'layerPreservation') e.params.calibrationTokens = 512;
      if (e.replicates !== undefined) e.replicates = 2;
    },
    // the rules read experiments this test leaves out
    pipeline: (p) => delete p.questions,
  });
}

type Row = Omit<MetricRow, 'value'> & { value: number };
function allMetrics(out: string, ids: readonly string[] = ONLY): Map<string, number> {
  return withStore(out, (s) => {
    const m = new Map<string, number>();
    for (const id of ids)
      for (const r of s.metrics(id) as Row[])
        m.set(`${r.experiment} r${r.replicate} ${r.model ?? '-'} ${r.language ?? '-'} ${r.metric}`, r.value);
    return m;
  });
}
function allArtifacts(out: string): Map<string, string> {
  return withStore(
    out,
    (s) =>
      new Map(
        ONLY.flatMap((id) =>
          s.artifacts(id).map((a) => [`${a.experiment} r${a.replicate} ${a.path}`, a.sha256] as [string, string]),
        ),
      ),
  );
}
/** The last "score cache: N hits, M misses" line of a replicate's log (runs append to it), or null. */
function cacheLine(out: string, id: string, k: number): { hits: number; misses: number } | null {
  const all = [
    ...readFileSync(join(out, 'logs', `${id}.r${k}.log`), 'utf8').matchAll(/score cache: (\d+) hits, (\d+) misses/g),
  ];
  const m = all.at(-1);
  return m ? { hits: Number(m[1]), misses: Number(m[2]) } : null;
}

test(
  'score cache on the built-in study: identical metrics with and without it, replicates score fewer units, a forced rerun scores none',
  { timeout: 1_800_000 },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'langquant-score-cache-'));
    try {
      const file = reducedPipeline(dir);
      const on = join(dir, 'on');
      const off = join(dir, 'off');
      const only = ['--only', ONLY.join(',')];
      // One replicate at a time where the hit counts are checked (in parallel, A-001 r0 may find units r1
      // wrote); the run without the cache takes the default (--jobs auto: two at once on two cores).
      const r1 = runCli(['run', file, '--out', on, ...only, '--jobs', '1'], { timeoutMs: 900_000 });
      assert.equal(r1.code, 0, r1.stdout + r1.stderr);
      const r2 = runCli(['run', file, '--out', off, ...only, '--no-score-cache'], { timeoutMs: 900_000 });
      assert.equal(r2.code, 0, r2.stdout + r2.stderr);
      assert.match(r1.stdout, /done: 8 passed; 8 ran, 0 reused/);

      // Every stored number identical (NaN equal to NaN), and the per-unit artifacts byte for byte.
      const a = allMetrics(on);
      const b = allMetrics(off);
      assert.ok(a.size > 500, `${a.size} metrics`);
      assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
      const differ = [...a].filter(([k, v]) => !Object.is(v, b.get(k)));
      assert.deepEqual(
        differ,
        [],
        `metrics that differ: ${differ
          .slice(0, 5)
          .map(([k, v]) => `${k}: ${v} vs ${b.get(k)}`)
          .join('; ')}`,
      );
      assert.deepEqual(allArtifacts(on), allArtifacts(off));

      // Without the cache nothing is kept and nothing is said; with it, every measuring replicate says what it did.
      assert.equal(existsSync(join(off, 'cache', 'scores')), false);
      assert.equal(cacheLine(off, 'A-002', 0), null);
      const a1 = [cacheLine(on, 'A-001', 0)!, cacheLine(on, 'A-001', 1)!];
      const a2 = [cacheLine(on, 'A-002', 0)!, cacheLine(on, 'A-002', 1)!];
      // A-001 r0 scores its 4 × 13 units; r1 redraws 13 of 19 and finds those r0 scored.
      assert.deepEqual(a1[0], { hits: 0, misses: 52 });
      assert.ok(a1[1].hits > 0 && a1[1].misses < 52, JSON.stringify(a1[1]));
      assert.equal(a1[1].hits + a1[1].misses, 52);
      // A-002 r0: the full-precision side of every evaluation unit comes from A-001 r0; r1 also finds
      // the quantised scores and KL of the units r0 shared.
      assert.ok(a2[0].hits >= 52, JSON.stringify(a2[0]));
      assert.ok(a2[1].misses < a2[0].misses, `${JSON.stringify(a2[1])} vs ${JSON.stringify(a2[0])}`);
      assert.match(
        readFileSync(join(on, 'logs', 'A-002.r0.log'), 'utf8'),
        /score cache: \d+ hits, \d+ misses \(\d+ full-precision window\(s\) by the head alone/,
      );
      // B-001 and B-005 reuse the full-precision side of A-001/A-002 (evaluation and selection units).
      for (const id of ['B-001', 'B-005'])
        assert.ok(cacheLine(on, id, 0)!.hits >= 52, `${id}: ${JSON.stringify(cacheLine(on, id, 0))}`);
      for (const id of ['D-001', 'D-002']) assert.ok(cacheLine(on, id, 0), id);
      // C-001's block variants (the layer sweep) find the full-precision side of every unit.
      const c1 = cacheLine(on, 'C-001', 0)!;
      assert.ok(c1.hits > 0 && c1.hits === c1.misses, JSON.stringify(c1));

      // C-001 with a helper lane (--jobs 2: once A-001's two replicates are done, C-001 runs alone and
      // the idle slot is lent to it): the same numbers as without one.
      const helped = join(dir, 'helped');
      const r4 = runCli(['run', file, '--out', helped, '--only', 'C-001', '--jobs', '2'], { timeoutMs: 900_000 });
      assert.equal(r4.code, 0, r4.stdout + r4.stderr);
      assert.match(readFileSync(join(helped, 'logs', 'C-001.r0.log'), 'utf8'), /a helper lane started on a free slot/);
      const h = allMetrics(helped, ['A-001', 'C-001']);
      assert.ok(h.size > 100, `${h.size} metrics`);
      const differH = [...h].filter(([k, v]) => !a.has(k) || !Object.is(v, a.get(k)));
      assert.deepEqual(differH, []);

      // Everything again, from the cache: no unit scored, the same numbers.
      const r3 = runCli(['run', file, '--out', on, ...only, '--force', '*', '--jobs', '1'], { timeoutMs: 900_000 });
      assert.equal(r3.code, 0, r3.stdout + r3.stderr);
      for (const id of ['A-001', 'A-002', 'B-001', 'B-005', 'C-001', 'D-001', 'D-002'])
        assert.equal(cacheLine(on, id, 0)!.misses, 0, id);
      const c = allMetrics(on);
      const differ2 = [...a].filter(([k, v]) => !Object.is(v, c.get(k)));
      assert.deepEqual(differ2, []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
