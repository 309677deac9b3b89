// Helper lanes (src/pipeline/lanes.ts): which replicate an idle slot is lent to, which helper gives its
// slot back, and a whole run with --jobs 3 in which a helper is started, stopped for ready work,
// started again and stopped when its replicate ends — with the replicate's results its own.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { helperToPreempt, pickHelped, type Helpable, type Helper } from '../../src/pipeline/lanes.ts';
import type { JobRequest } from '../../src/pipeline/executor.ts';
import type { ChildJob } from '../../src/pipeline/protocol.ts';
import { Store } from '../../src/pipeline/store.ts';
import { runCli } from '../helpers/cli.ts';

const FIX = fileURLToPath(new URL('../fixtures/pipelines/', import.meta.url));

const running = (stopping = false): Helper => ({ done: Promise.resolve(), stop() {}, stopping });
const cand = (name: string, priority: number, o: Partial<Helpable> = {}): Helpable => ({
  name,
  priority,
  job: {} as ChildJob,
  request: {} as JobRequest,
  helper: null,
  helped: false,
  ...o,
});

test('an idle slot goes to the highest-priority replicate without a helper; the lowest gives its slot back', () => {
  assert.equal(pickHelped([]), null);
  const a = cand('A.r0', 10);
  const b = cand('B.r0', 30);
  const c = cand('C.r0', 20);
  assert.equal(pickHelped([a, b, c])!.name, 'B.r0');
  // one already helped to its end, or with a helper now, is passed over
  assert.equal(pickHelped([a, { ...b, helped: true }, c])!.name, 'C.r0');
  assert.equal(pickHelped([a, { ...b, helper: running() }, { ...c, helper: running() }])!.name, 'A.r0');
  assert.equal(pickHelped([{ ...a, helped: true }]), null);
  // above the best ready work's priority only (ties go to the ready work)
  assert.equal(pickHelped([a, b, c], 20)!.name, 'B.r0');
  assert.equal(pickHelped([a, b, c], 30), null);
  // preemption: the lowest priority among running helpers not already stopping
  assert.equal(helperToPreempt([a, b, c]), null);
  const hb = { ...b, helper: running() };
  const hc = { ...c, helper: running() };
  assert.equal(helperToPreempt([a, hb, hc])!.name, 'C.r0');
  assert.equal(helperToPreempt([a, hb, { ...c, helper: running(true) }])!.name, 'B.r0');
  // only for ready work with at least the helper's priority
  assert.equal(helperToPreempt([a, hb, hc], 20)!.name, 'C.r0');
  assert.equal(helperToPreempt([a, hb, hc], 19), null);
});

test('--jobs 2: a helper lane of the critical path goes before ready work with a shorter path', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'lq-helpers-')), 'run');
  const r = runCli(['run', join(FIX, 'helpers-critical.yaml'), '--out', out, '--jobs', '2']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const log = readFileSync(join(out, 'logs', 'H-1.r0.log'), 'utf8');
  assert.equal((log.match(/a helper lane started on a free slot/g) ?? []).length, 1, log);
  assert.match(log, /the helper lane ended after [\d.]+ s \(stopped: its replicate ended\)/);
  const s = Store.openReadOnly(out)!;
  try {
    const at = (id: string) => s.attempts().find((x) => x.experiment === id)!;
    // L-2 waited for H-1 (its helper held the other slot)
    assert.ok(Date.parse(at('L-2').startedAt) >= Date.parse(at('H-1').endedAt!), 'L-2 started after H-1 ended');
    assert.ok(Date.parse(at('L-1').endedAt!) < Date.parse(at('H-1').endedAt!));
  } finally {
    s.close();
  }
});

test('--jobs 3: a helper lane takes an idle slot, gives it back to ready work, and ends with its replicate', () => {
  const file = join(FIX, 'helpers.yaml');
  const out = join(mkdtempSync(join(tmpdir(), 'lq-helpers-')), 'run');
  const r = runCli(['run', file, '--out', out, '--jobs', '3']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const log = readFileSync(join(out, 'logs', 'H-1.r0.log'), 'utf8');
  const started = log.match(/a helper lane started on a free slot/g) ?? [];
  assert.equal(started.length, 2, log);
  assert.match(
    log,
    /the helper lane ended after [\d.]+ s \(stopped: ready work on a path at least as long needs the slot\)/,
  );
  assert.match(log, /the helper lane ended after [\d.]+ s \(stopped: its replicate ended\)/);
  // the helper ran the kind with lane 1 (its marker), in its own log
  const markers = readdirSync(join(out, 'cache')).filter((f) => f.startsWith('lane-H-1-'));
  assert.equal(markers.filter((f) => f.startsWith('lane-H-1-1-')).length, 2, markers.join(' '));
  assert.equal(markers.filter((f) => f.startsWith('lane-H-1-0-')).length, 1);
  assert.match(readFileSync(join(out, 'logs', 'H-1.r0.lane1.log'), 'utf8'), /lane 1 sleeping 9000 ms/);
  const s = Store.openReadOnly(out)!;
  try {
    // the replicate's own results: one attempt, lane 0's metrics
    const attempts = s.attempts().filter((x) => x.experiment === 'H-1');
    assert.equal(attempts.length, 1);
    assert.deepEqual(
      s
        .metrics('H-1')
        .map((m) => `${m.metric}=${m.value}`)
        .sort(),
      ['lane=0', 'slept=9000'],
    );
    // H-4 and H-5 both ran while H-1 was still running: the helper made way
    const at = (id: string) => s.attempts().find((x) => x.experiment === id)!;
    const h1End = Date.parse(at('H-1').endedAt!);
    for (const id of ['H-4', 'H-5']) assert.ok(Date.parse(at(id).endedAt!) < h1End, `${id} ended before H-1`);
  } finally {
    s.close();
  }
  // nothing of the helper is left in tmp/
  assert.deepEqual(
    readdirSync(join(out, 'tmp')).filter((f) => f.includes('lane1')),
    [],
  );
  // --no-helpers: no helper, the same results
  const plain = join(mkdtempSync(join(tmpdir(), 'lq-helpers-')), 'run');
  const p = runCli(['run', file, '--out', plain, '--jobs', '3', '--no-helpers', '--only', 'H-1,H-2']);
  assert.equal(p.code, 0, p.stdout + p.stderr);
  assert.doesNotMatch(readFileSync(join(plain, 'logs', 'H-1.r0.log'), 'utf8'), /helper lane/);
  assert.ok(!existsSync(join(plain, 'logs', 'H-1.r0.lane1.log')));
});
