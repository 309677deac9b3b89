// The local executor's warm workers, driven directly with hand-written job files: jobs in turn share a
// worker process, each job's output goes to its own log, a job that exits or is killed takes its
// worker with it (the next job gets a fresh one, even when the killed job's `done` is read after the
// kill), an idle worker that died from outside hands its next job to a fresh one, a worker above its
// memory bound leaves after its job, close() ends the idle workers, and --no-warm-workers gives one
// process per job.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { LocalExecutor, type JobEnd, type JobRequest } from '../../src/pipeline/executor.ts';
import type { ChildJob, ChildResult } from '../../src/pipeline/protocol.ts';

const KINDS = pathToFileURL(new URL('../fixtures/pipelines/kinds.ts', import.meta.url).pathname).href;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** emit's params as the orchestrator would hand them over (normalised by the kind's schema). */
const emitParams = (values: Record<string, number> = { en: 1 }) => ({ values, noise: 0, sleepMs: 0 });

/** Writes the job file of one experiment of the fixture kinds and returns its request. */
function makeJob(dir: string, name: string, kind: string, params: unknown, timeoutMs = 20_000): JobRequest {
  const workDir = join(dir, 'artifacts', name);
  mkdirSync(workDir, { recursive: true });
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const req: JobRequest = {
    name,
    jobFile: join(dir, `${name}.job.json`),
    resultFile: join(dir, `${name}.result.json`),
    progressFile: join(dir, `${name}.progress.json`),
    logFile: join(dir, 'logs', `${name}.log`),
    cwd: dir,
    timeoutMs,
    killGraceMs: 500,
    slurm: {},
  };
  const job: ChildJob = {
    modules: [KINDS],
    experiment: { id: name, kind, phase: null, question: null, title: null, dependsOn: [], params },
    replicate: 0,
    replicates: 1,
    seed: 7,
    baseSeed: 0,
    models: {},
    corpus: {},
    groups: {},
    pipelineDir: dir,
    runDir: dir,
    workDir,
    cacheDir: dir,
    scoreCacheDir: null,
    deps: [],
    resultPath: req.resultFile,
    progressPath: null,
  };
  writeFileSync(req.jobFile, JSON.stringify(job));
  return req;
}

/** Submits a job and waits for its end: the job id, its end and its result file (if any). */
async function runJob(ex: LocalExecutor, req: JobRequest, progress: string[] = []) {
  const id = await ex.submit(req, (p) => progress.push(`${p.label} ${p.done}/${p.total}`));
  for (;;) {
    const st = await ex.poll(id);
    if (st.phase === 'ended') {
      ex.release(id);
      const result = existsSync(req.resultFile)
        ? (JSON.parse(readFileSync(req.resultFile, 'utf8')) as ChildResult)
        : null;
      return { id, pid: Number(id.split('.')[0]), end: st.end, result };
    }
    await ex.wait(id, 1000);
  }
}

test('warm workers: jobs in turn share a process; logs stay apart; a crash or a kill costs only that worker', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lq-workers-'));
  const ex = new LocalExecutor();
  const pids = new Set<number>();
  try {
    const progress: string[] = [];
    const a = await runJob(ex, makeJob(dir, 'A', 'emit', emitParams({ en: 1, fr: 2 })), progress);
    const b = await runJob(ex, makeJob(dir, 'B', 'emit', emitParams({ sw: 3 })));
    pids.add(a.pid).add(b.pid);
    assert.match(a.id, /^\d+\.\d+$/);
    assert.notEqual(a.id, b.id);
    assert.equal(b.pid, a.pid, 'the second job ran in the first job’s worker');
    assert.deepEqual(a.end, { exitCode: 0, signal: null, startError: null, slurm: null });
    assert.ok(a.result?.ok && b.result?.ok);
    assert.equal(a.result.ok && a.result.metrics.filter((m) => m.metric === 'score').length, 2);
    assert.equal(b.result.ok && b.result.metrics.filter((m) => m.metric === 'score').length, 1);
    assert.deepEqual(progress, ['languages 1/2', 'languages 2/2']);
    // each log holds its own job's lines only
    const logA = readFileSync(join(dir, 'logs', 'A.log'), 'utf8');
    const logB = readFileSync(join(dir, 'logs', 'B.log'), 'utf8');
    assert.match(logA, /emitted 2 languages/);
    assert.doesNotMatch(logA, /emitted 1 languages/);
    assert.match(logB, /emitted 1 languages/);
    assert.doesNotMatch(logB, /emitted 2 languages/);

    // a kind that throws: the worker survives and reports the failure as a one-shot child would
    const t = await runJob(ex, makeJob(dir, 'T', 'crash', { mode: 'throw' }));
    assert.equal(t.pid, a.pid);
    assert.equal(t.end.exitCode, 1);
    assert.ok(t.result && !t.result.ok && /boom: the kind threw/.test(t.result.error));
    assert.match(readFileSync(join(dir, 'logs', 'T.log'), 'utf8'), /boom: the kind threw/);

    // a kind that exits the process: the job ends with its code and no result; the worker is gone
    const c = await runJob(ex, makeJob(dir, 'C', 'crash', { mode: 'exit' }));
    assert.equal(c.pid, a.pid);
    assert.deepEqual(c.end, { exitCode: 3, signal: null, startError: null, slurm: null } satisfies JobEnd);
    assert.equal(c.result, null);
    const d = await runJob(ex, makeJob(dir, 'D', 'emit', emitParams()));
    pids.add(d.pid);
    assert.notEqual(d.pid, a.pid, 'a new worker after the crash');
    assert.ok(d.result?.ok);

    // a job cancelled (its timeout, Ctrl-C) kills its worker; the next job gets a new one
    const sreq = makeJob(dir, 'S', 'sleep', { ms: 60_000 });
    const sid = await ex.submit(sreq, () => {});
    const spid = Number(sid.split('.')[0]);
    pids.add(spid);
    assert.equal(spid, d.pid);
    await new Promise((r) => setTimeout(r, 300));
    await ex.cancel(sid, 'term');
    await ex.wait(sid, 10_000);
    const st = await ex.poll(sid);
    assert.ok(st.phase === 'ended' && st.end.signal === 'SIGTERM', JSON.stringify(st));
    const e = await runJob(ex, makeJob(dir, 'E', 'emit', emitParams()));
    pids.add(e.pid);
    assert.notEqual(e.pid, spid);
    assert.ok(e.result?.ok);
  } finally {
    await ex.close();
  }
  for (const pid of pids) assert.equal(alive(pid), false, `worker ${pid} has exited after close()`);
});

test('warm workers: a worker above its memory bound leaves after its job; fresh processes when reuse is off', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lq-workers-'));
  for (const ex of [new LocalExecutor({ maxWorkerRssBytes: 1 }), new LocalExecutor({ reuse: false })]) {
    try {
      const a = await runJob(ex, makeJob(dir, 'A', 'emit', emitParams()));
      const b = await runJob(ex, makeJob(dir, 'B', 'emit', emitParams()));
      assert.ok(a.result?.ok && b.result?.ok);
      assert.notEqual(a.pid, b.pid);
    } finally {
      await ex.close();
    }
  }
  // one process per job: the id is the pid itself
  const fresh = new LocalExecutor({ reuse: false });
  const f = await runJob(fresh, makeJob(dir, 'F', 'emit', emitParams()));
  assert.match(f.id, /^\d+$/);
  await fresh.close();
});

/** Blocks this process's event loop for `ms` (what lets a child's message wait unread in its pipe). */
function blockFor(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

test('warm workers: a job cancelled as it ends takes its worker with it; the next job never gets the dead one', async () => {
  // The race behind "could not start the child process: write EPIPE": a helper lane stopped just as its
  // job ended. The worker's `done` is already in the pipe when the kill goes out; read afterwards, it
  // used to put the killed worker back in the pool before its exit was seen, and the next job was
  // sent to a dead process.
  const dir = mkdtempSync(join(tmpdir(), 'lq-workers-'));
  const ex = new LocalExecutor();
  try {
    for (let round = 0; round < 3; round++) {
      const req = makeJob(dir, `A${round}`, 'emit', emitParams());
      const id = await ex.submit(req, () => {});
      while (!existsSync(req.resultFile)) blockFor(10);
      blockFor(300); // the worker has answered `done`; this process has not read it yet
      void ex.cancel(id, 'kill');
      await ex.wait(id, 10_000);
      const next = await runJob(ex, makeJob(dir, `B${round}`, 'emit', emitParams()));
      assert.deepEqual(next.end, { exitCode: 0, signal: null, startError: null, slurm: null } satisfies JobEnd);
      assert.ok(next.result?.ok);
      assert.notEqual(next.pid, Number(id.split('.')[0]), 'the next job ran in a fresh worker');
      ex.release(id);
    }
  } finally {
    await ex.close();
  }
});

test('warm workers: an idle worker killed from outside refuses the next job, which starts on a fresh worker', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lq-workers-'));
  const ex = new LocalExecutor();
  try {
    const a = await runJob(ex, makeJob(dir, 'A', 'emit', emitParams()));
    assert.ok(a.result?.ok);
    process.kill(a.pid, 'SIGKILL'); // the OOM killer, say, while the worker waits in the pool
    blockFor(300); // gone, but its exit not yet seen here
    const b = await runJob(ex, makeJob(dir, 'B', 'emit', emitParams()));
    assert.deepEqual(b.end, { exitCode: 0, signal: null, startError: null, slurm: null } satisfies JobEnd);
    assert.ok(b.result?.ok);
    assert.match(readFileSync(join(dir, 'logs', 'B.log'), 'utf8'), /emitted 1 languages/);
  } finally {
    await ex.close();
  }
});
