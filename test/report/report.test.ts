// The report of a small completed run (written through the Store API by ./fixture.ts): every chart
// present and inlined, every table number equal to the store's summary, units next to numbers,
// figures without data saying so, --compare tables with differences, and the CLI's messages.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../src/pipeline/store.ts';
import { buildReport, writeReport } from '../../src/report/write.ts';
import { STUDY_REPORT } from '../../src/study/figures/index.ts';
import { alignDecimals, columnDecimals, type Table } from '../../src/report/figure.ts';
import { runCli } from '../helpers/cli.ts';
import { writeFixtureRun } from './fixture.ts';

const FIGURES = [
  ...['baseline', 'degradation', 'disparity', 'preservation'],
  ...['layer-sensitivity', 'layer-preservation', 'cross-model', 'methods'],
];

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'lq-report-'));
}

interface TdCell {
  attrs: Record<string, string>;
  text: string;
}

/** Whether a cell's text shows `v` as rounded for display: a fixed count of decimals or 4 significant digits. */
function showsValue(text: string, v: number): boolean {
  const m = /^[+-]?\d+(?:\.(\d+))?(?:e[+-]?\d+)?/.exec(text);
  if (!m) return false;
  const shown = Number(m[0]);
  if (/e/.test(m[0])) return Math.abs(shown - v) <= 5e-4 * Math.abs(v);
  return Math.abs(shown - v) <= 0.5 * 10 ** -(m[1]?.length ?? 0) * (1 + 1e-9) + 1e-12;
}

function cells(html: string): TdCell[] {
  const out: TdCell[] = [];
  for (const m of html.matchAll(/<td([^>]*)>(.*?)<\/td>/g)) {
    const attrs: Record<string, string> = {};
    for (const a of m[1].matchAll(/([\w-]+)="([^"]*)"/g))
      attrs[a[1]] = a[2]
        .replace(/&quot;/g, '"')
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
        .replace(/&amp;/g, '&');
    out.push({ attrs, text: m[2].replace(/<[^>]*>/g, '').replace(/&amp;/g, '&') });
  }
  return out;
}

test('report of a completed run: every chart, every number equal to the store, units and definitions', async () => {
  const dir = tmp();
  try {
    writeFixtureRun(dir);
    const r = await writeReport(dir, STUDY_REPORT);
    for (const id of FIGURES) assert.ok(existsSync(join(dir, 'charts', `${id}.svg`)), `charts/${id}.svg`);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes('.tmp-')),
      [],
      'no temporary files left',
    );
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    const md = readFileSync(join(dir, 'report.md'), 'utf8');

    // Every figure: a section with its chart inlined as SVG, and linked from the Markdown.
    for (const id of FIGURES) {
      const sec = html.slice(html.indexOf(`data-figure="${id}"`));
      const body = sec.slice(0, sec.indexOf('</section>'));
      assert.ok(body.includes('<svg'), `${id}: chart inlined`);
      assert.ok(!body.includes('data-missing'), `${id}: has data`);
      assert.ok(body.includes('<table'), `${id}: numbers table`);
      assert.ok(md.includes(`![`) && md.includes(`(charts/${id}.svg)`), `${id}: linked in report.md`);
      assert.match(readFileSync(join(dir, 'charts', `${id}.svg`), 'utf8'), /^<\?xml[^]*<svg[^]*<\/svg>\s*$/);
    }

    // Self-contained: no script, nothing fetched.
    assert.ok(!/<script/i.test(html));
    assert.ok(!/(src|href)\s*=\s*"(https?:|\/\/)/i.test(html), 'no external resource');
    assert.ok(!/url\(/i.test(html.replace(/url\(#[^)]*\)/g, '')), 'no external url() in CSS or SVG');

    // Every number that names its metric equals the store's mean over replicates, and shows it rounded.
    const store = Store.openReadOnly(dir)!;
    try {
      const summaries = new Map<string, ReturnType<Store['summarize']>>();
      const td = cells(html).filter((c) => c.attrs['data-value'] !== undefined);
      assert.ok(td.length > 200, `${td.length} numeric cells`);
      let checked = 0;
      const bounds: { v: number; mean: number; n: number }[] = [];
      for (const c of td) {
        const exp = c.attrs['data-experiment'];
        if (exp === undefined) {
          assert.equal(
            c.attrs['data-derived'],
            '1',
            `a numeric cell without a metric must be marked derived: ${c.text}`,
          );
          continue;
        }
        if (!summaries.has(exp)) summaries.set(exp, store.summarize(exp));
        const s = summaries
          .get(exp)!
          .find(
            (x) =>
              x.metric === c.attrs['data-metric'] &&
              x.model === (c.attrs['data-model'] ?? null) &&
              x.language === (c.attrs['data-language'] ?? null),
          );
        assert.ok(s, `store has ${exp} ${c.attrs['data-metric']} ${c.attrs['data-model']} ${c.attrs['data-language']}`);
        const v = Number(c.attrs['data-value']);
        // An interval bound over replicates is the worst replicate's (min of lower, max of upper bounds); anything else
        // the mean.
        const metric = c.attrs['data-metric'];
        const want = metric.endsWith('_lo') ? s.min : metric.endsWith('_hi') ? s.max : s.mean;
        if (s.n === 0) assert.ok(Number.isNaN(v));
        else {
          assert.equal(v, want, `${exp} ${metric} ${c.attrs['data-language']}`);
          if (c.attrs['data-worded'] !== '1') assert.ok(showsValue(c.text, want), `${c.text} shows ${want}`);
          if (metric.endsWith('_lo') || metric.endsWith('_hi')) bounds.push({ v, mean: s.mean, n: s.n });
        }
        checked++;
      }
      // Every per-language value of the main measures is in a table.
      const shown = new Set(
        td.map(
          (c) =>
            `${c.attrs['data-experiment']}|${c.attrs['data-metric']}|${c.attrs['data-model'] ?? ''}|${c.attrs['data-language'] ?? ''}`,
        ),
      );
      for (const [exp, metric] of [
        ['A-001', 'bpb'],
        ['A-001', 'ppl'],
        ['A-002', 'delta_bpb'],
        ['A-002', 'delta_bpb_lo'],
        ['A-002', 'ppl_rel_increase'],
        ['C-001', 'layer2_delta_bpb'],
        ['C-002', 'layer_delta_bpb'],
        ['D-002', 'delta_bpb'],
      ]) {
        const rows = store.summarize(exp).filter((s) => s.metric === metric);
        assert.ok(rows.length >= 8, `${exp} ${metric}`);
        for (const s of rows)
          assert.ok(
            shown.has(`${exp}|${metric}|${s.model ?? ''}|${s.language ?? ''}`),
            `${exp} ${metric} ${s.language} shown`,
          );
      }
      for (const m of store
        .summarize('B-004')
        .filter((s) => s.metric.startsWith('curve_p') && !s.metric.endsWith('_share')))
        assert.ok(shown.has(`B-004|${m.metric}|${m.model ?? ''}|${m.language ?? ''}`), m.metric);
      for (const e of ['A-003', 'D-001', 'D-002'])
        assert.ok(
          shown.has(`${e}|ratio_dbpb|${e === 'A-003' ? 'base' : e === 'D-001' ? 'opt' : 'pythia'}|`),
          `${e} ratio`,
        );
      assert.ok(checked > 200);
      // Bounds of two replicates that differ: the worst replicate's, which is not the mean of the bounds.
      const differing = bounds.filter((b) => b.n > 1 && b.v !== b.mean);
      assert.ok(
        differing.length > 20 && bounds.every((b) => b.n === 2),
        `${differing.length} of ${bounds.length} interval bounds differ from their mean`,
      );
      assert.match(html, /ΔBPB 2\.5 % \(worst replicate\)/);
      assert.match(md, /\| 97\.5 % \(worst replicate\) \|/);
    } finally {
      store.close();
    }

    // Header: ledger, checklist with ticks and sources, provenance with model hashes.
    assert.match(html, /Is disparity real\?/);
    assert.match(html, /<td class="status-CONFIRMED">CONFIRMED<\/td>/);
    assert.match(html, /<td>✓<\/td><td>A-001<\/td>/);
    assert.ok(html.includes('a'.repeat(64)), 'base model hash');
    assert.match(md, /\| ✓ \| A-002 \| quantize \|/);
    // Units and definitions near the numbers.
    assert.match(md, /ΔBPB: ΔBPB = BPB of the treated model − BPB at full precision \(bits\/byte\)/);
    assert.match(md, /\| ΔBPB \(bits\/byte\) \|/);
    assert.match(md, /Scored tokens: every token/);
    assert.match(md, /optimal share 10 % at 7\.05 bits per weight/);
    // Columns line up on the decimal point: a value and its interval bounds share one count of decimals.
    const deg = md
      .slice(md.indexOf('*A-002 · model base'))
      .split('\n')
      .filter((l) => l.startsWith('| deu | high |'))[0]
      .split('|')
      .map((x) => x.trim());
    const decimals = (x: string) => /\.(\d+)/.exec(x.split(' ± ')[0])?.[1].length;
    assert.ok(
      deg.slice(3, 6).every((x) => !/e/.test(x) && decimals(x) === decimals(deg[3])),
      deg.join(' | '),
    );
    // The preservation curve: the ratio's stability from the experiment that measured it, unstable ratios not drawn.
    const pres = r.doc.sections.find((s) => s.figure.id === 'preservation')!;
    const pt = pres.tables[0];
    const stab = Object.fromEntries(
      pt.rows.map((row) => [row[0].text, row[pt.columns.findIndex((c) => c.label === 'ratio unstable?')]]),
    );
    assert.equal(stab['0'].text, 'stable');
    assert.equal(stab['0'].ref?.experiment, 'A-003');
    assert.equal(stab['5'].text, 'unstable');
    assert.deepEqual(stab['5'].ref, {
      experiment: 'B-001',
      metric: 'ratio_dbpb_unstable',
      model: 'base',
      language: null,
    });
    assert.equal(stab['10'].text, '–', 'no experiment measured it and the high-resource mean is > 0: not known');
    assert.equal(stab['20'].text, 'unstable (high-resource mean ≤ 0)');
    const drawn = (pres.figure.chart as { data: { values: { series: string; share: string }[] } }).data.values
      .filter((v) => v.series === 'ratio')
      .map((v) => v.share);
    assert.deepEqual(drawn, ['0 %', '10 %']);
    assert.ok(
      pres.figure.notes.some((n) => /ratio at p = 5 %, p = 20 % is unstable .* not drawn/.test(n)),
      pres.figure.notes.join('\n'),
    );
    // The heatmap's colour scale is centred on 0 (ΔBPB can be negative).
    const heat = JSON.stringify(r.doc.sections.find((s) => s.figure.id === 'layer-sensitivity')!.figure.chart);
    const dom = JSON.parse(/"domain":(\[[^\]]*\])/.exec(heat)![1]) as number[];
    assert.ok(dom.length === 2 && dom[0] === -dom[1] && dom[1] > 0, heat.slice(0, 200));
    // Every figure is a section. Phase E's: per language, RTN and every arm in one table, and two chart
    // panels (the methods beside RTN; GPTQ's calibration sources beside RTN), a column per resource group.
    assert.equal(r.doc.sections.length, FIGURES.length);
    const methods = r.doc.sections.find((s) => s.figure.id === 'methods')!;
    const perLang = methods.tables.find((t) => t.id === 'methods-languages-base')!;
    const arms = ['RTN', 'GPTQ all', 'AWQ all', 'GPTQ high', 'GPTQ low', 'GPTQ target'];
    assert.deepEqual(
      perLang.columns.slice(2).map((c) => c.label),
      arms.map((a) => `ΔBPB ${a}`),
    );
    const langs = ['deu', 'eng', 'fra', 'spa', 'hau', 'swh', 'yor', 'zul'];
    assert.deepEqual(
      perLang.rows.map((row) => row[0].text),
      [...langs, '@high', '@low'],
    );
    type Bar = { arm: string; group: string; language: string; dbpb: number };
    const chart = methods.figure.chart as { vconcat: { data: { values: Bar[] }; facet: unknown }[] };
    assert.equal(chart.vconcat.length, 2);
    assert.deepEqual([...new Set(chart.vconcat[0].data.values.map((v) => v.arm))], ['RTN', 'GPTQ all', 'AWQ all']);
    const sources = arms.filter((a) => a !== 'AWQ all');
    assert.deepEqual([...new Set(chart.vconcat[1].data.values.map((v) => v.arm))], sources);
    const groupOf = (l: string) => (langs.indexOf(l) >= 4 ? 'low' : 'high');
    for (const p of chart.vconcat) assert.ok(p.facet && p.data.values.every((v) => v.group === groupOf(v.language)));
    const store0 = Store.openReadOnly(dir)!;
    const e5 = store0.summarize('E-005').find((x) => x.metric === 'delta_bpb' && x.language === 'yor')!;
    store0.close();
    const yor = chart.vconcat[1].data.values.find((v) => v.arm === 'GPTQ target' && v.language === 'yor')!;
    assert.equal(yor.dbpb, e5.mean);

    // Same store, same report.
    await writeReport(dir, STUDY_REPORT);
    assert.equal(readFileSync(join(dir, 'report.md'), 'utf8'), md);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('numeric columns: one count of decimals per column (or group of columns), exact values kept', () => {
  assert.equal(columnDecimals([0.006572, 0.000045, -0.000006]), 6);
  assert.equal(columnDecimals([11.94, 2.358]), 2);
  assert.equal(columnDecimals([3986, 64.82]), 0);
  assert.equal(columnDecimals([1171, 3556]), null, 'whole numbers stay as they are');
  assert.equal(columnDecimals([2e-7, 1e-6]), null, 'too small for decimals: each in scientific notation');
  assert.equal(columnDecimals([NaN]), null);
  const t: Table = {
    id: 't',
    caption: 'c',
    columns: [
      { label: 'k', key: true },
      { label: 'x', decimals: 'g' },
      { label: 'lo', decimals: 'g' },
      { label: 'flag' },
    ],
    rows: [
      [
        { text: 'a' },
        { text: '0.002', value: 0.0021234, sd: 0.0001 },
        { text: '4.5e-5', value: 0.000045 },
        { text: 'yes', value: 1, worded: true },
      ],
      [
        { text: 'b' },
        { text: '-1e-7', value: -1e-7, sd: 3.2e-8 },
        { text: 'n/a', value: NaN },
        { text: 'no', value: 0, worded: true },
      ],
    ],
  };
  const out = alignDecimals(t);
  assert.deepEqual(
    out.rows.map((r) => r.map((c) => c.text)),
    [
      ['a', '0.002123 ± 0.000100', '0.000045', 'yes'],
      ['b', '0.000000 ± 0.00000003', 'n/a', 'no'],
    ],
  );
  assert.equal(out.rows[0][1].value, 0.0021234);
});

test('figures whose experiments have not run say so instead of failing', async () => {
  const dir = tmp();
  try {
    writeFixtureRun(dir, { skip: ['C-001', 'C-002', 'D-001', 'D-002'] });
    const { doc } = await buildReport(dir, STUDY_REPORT);
    const missing = Object.fromEntries(doc.sections.map((s) => [s.figure.id, s.figure.missing]));
    assert.equal(missing.baseline, null);
    assert.equal(missing.preservation, null);
    assert.match(missing['layer-sensitivity'] ?? '', /no results yet: C-001 is pending/);
    assert.match(missing['layer-preservation'] ?? '', /C-002 is pending/);
    assert.match(missing['cross-model'] ?? '', /D-001 is pending; D-002 is pending/);
    assert.equal(missing.disparity, null, 'A-003 alone still gives a disparity figure');
    const r = runCli(['report', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(
      r.stdout.includes(`wrote ${join(dir, 'charts', 'baseline.svg')}`) && !r.stdout.includes('../'),
      `a folder outside the working folder is named by its full path: ${r.stdout}`,
    );
    assert.match(
      r.stdout,
      /figures without data \(experiments not run yet\): layer-sensitivity, layer-preservation, cross-model/,
    );
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    assert.match(
      html,
      /<p class="missing" data-missing="1"><strong>Not available:<\/strong> no results yet: C-001 is pending/,
    );
    assert.ok(!existsSync(join(dir, 'charts', 'layer-sensitivity.svg')));
    assert.match(
      readFileSync(join(dir, 'report.md'), 'utf8'),
      /> \*\*Not available:\*\* no results yet: C-001 is pending/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--compare: the same tables side by side with B − A', async () => {
  const root = tmp();
  try {
    const a = join(root, 'runA');
    const b = join(root, 'runB');
    mkdirSync(a);
    mkdirSync(b);
    writeFixtureRun(a, { seed: 1 });
    writeFixtureRun(b, { seed: 2, skip: ['C-002'] });
    const { doc } = await buildReport(a, { ...STUDY_REPORT, compare: b });
    const t = doc.sections.find((s) => s.figure.id === 'disparity')!.tables[0];
    const col = (label: string) => t.columns.findIndex((c) => c.label === label);
    const ia = col('ratio ΔBPB (runA)');
    const ib = col('ratio ΔBPB (runB)');
    const id = col('Δ ratio ΔBPB (runB − runA)');
    assert.ok(ia >= 0 && ib >= 0 && id >= 0, t.columns.map((c) => c.label).join(', '));
    assert.ok(!t.columns.some((c) => /^Δ unstable/.test(c.label)), 'a flag in words gets no difference');
    assert.ok(t.columns.some((c) => c.label === 'unstable? (runB)') || t.columns.some((c) => c.label === 'unstable?'));
    const base = t.rows.find((r) => r[0].text === 'base')!;
    const sa = Store.openReadOnly(a)!;
    const sb = Store.openReadOnly(b)!;
    try {
      const ra = sa.summarize('A-003').find((s) => s.metric === 'ratio_dbpb')!.mean;
      const rb = sb.summarize('A-003').find((s) => s.metric === 'ratio_dbpb')!.mean;
      assert.equal(base[ia].value, ra);
      assert.equal(base[ib].value, rb);
      assert.ok(Math.abs(base[id].value! - (rb - ra)) < 1e-12);
    } finally {
      sa.close();
      sb.close();
    }
    // A figure with data only in A keeps A's tables and notes that B has none.
    const lp = doc.sections.find((s) => s.figure.id === 'layer-preservation')!;
    assert.ok(lp.tables.length > 0);
    assert.ok(lp.figure.notes.some((n) => /runB: not available — no results yet: C-002 is pending/.test(n)));

    const r = runCli(['report', a, '--compare', b]);
    assert.equal(r.code, 0, r.stderr);
    const html = readFileSync(join(a, 'compare.html'), 'utf8');
    assert.match(html, /Δ ratio ΔBPB \(runB − runA\)/);
    assert.ok(existsSync(join(a, 'compare.md')));
    assert.ok(!existsSync(join(a, 'report.html')), "the run's own report is left alone");
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('report of a folder without results: one-line message saying what to do', () => {
  const dir = tmp();
  try {
    const r = runCli(['report', dir]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(
      r.stderr,
      /holds no langquant results \(no langquant\.sqlite\); run a pipeline into it first \(langquant run PIPELINE --out /,
    );
    const c = runCli(['report', dir, '--compare', join(dir, 'nope')]);
    assert.equal(c.code, 2);
    assert.match(c.stderr, /holds no langquant results/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
