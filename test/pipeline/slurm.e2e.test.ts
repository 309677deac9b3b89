// The Slurm executor against a real single-node Slurm cluster (slurmctld, slurmd, munge) that this
// file starts in a temporary folder and stops afterwards, through the real CLI: the test kinds give
// the same statuses and numbers as under the local executor; --jobs 2 runs two independent
// experiments at once and their dependent after both; Ctrl-C cancels the running job; a SIGKILLed
// orchestrator's jobs are adopted (or their results taken) by the next run, nothing run twice.
// Where Slurm cannot be started (not installed, not root) every test here is skipped with the reason.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseScontrol } from '../../src/pipeline/slurm.ts';
import type { AttemptRow } from '../../src/pipeline/store.ts';
import { BIN, runCli } from '../helpers/cli.ts';
import { slurmUnavailable, startCluster, type Cluster } from '../helpers/slurm-cluster.ts';
import { withStore } from '../helpers/store.ts';

const FIX = fileURLToPath(new URL('../fixtures/pipelines/', import.meta.url));
const skip = slurmUnavailable() ?? false;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const made: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'lq-slurm-run-'));
  made.push(d);
  return d;
};
let cluster: Cluster;

before(async () => {
  if (skip) return;
  const t0 = Date.now();
  cluster = await startCluster();
  console.log(`# test Slurm cluster up in ${Date.now() - t0} ms (${cluster.dir})`);
});
after(async () => {
  if (cluster) await cluster.stop();
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

const cli = (args: string[]) => runCli(args, { env: cluster.env, timeoutMs: 180_000 });

function start(args: string[]): {
  child: ChildProcess;
  output: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
} {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...cluster.env },
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.on('exit', (code, signal) => res({ code, signal })),
  );
  return { child, output: () => out, exit };
}

/** Polls the store until `ok` holds for the attempts (the orchestrator writes as it goes). */
async function waitForAttempts(
  dir: string,
  ok: (a: AttemptRow[]) => boolean,
  what: string,
  timeoutMs = 60_000,
): Promise<AttemptRow[]> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    try {
      const a = withStore(dir, (s) => s.attempts());
      if (ok(a)) return a;
    } catch {
      /* the store is being created */
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Slurm's own record of a job (kept MinJobAge = 300 s after it ends). */
function slurmJob(id: string): Record<string, string> {
  return parseScontrol(cluster.cmd('scontrol', ['-o', 'show', 'job', id]).trim());
}

const statuses = (dir: string) =>
  JSON.parse(runCli(['status', dir, '--json']).stdout).experiments as {
    id: string;
    status: string;
    reason: string | null;
    jobs: { jobId: string; state: string }[];
  }[];
const attemptsByExp = (dir: string) =>
  withStore(dir, (s) => {
    const m: Record<string, string[]> = {};
    for (const a of s.attempts()) (m[a.experiment] ??= []).push(a.status);
    return m;
  });
const metricsOf = (dir: string, id: string) =>
  withStore(dir, (s) =>
    s
      .metrics(id)
      .map((m) => `${m.replicate} ${m.language ?? '-'} ${m.metric}=${m.value}`)
      .sort(),
  );

test(
  'the test kinds give the same statuses and numbers under slurm (--jobs 2) as under local (sequential)',
  { skip },
  async () => {
    const file = join(FIX, 'executors.yaml');
    const local = join(tmp(), 'local');
    const slurm = join(tmp(), 'slurm');
    // Both at once (they mostly wait on sleeps and timeouts): the reference run and the Slurm one.
    const t0 = Date.now();
    const runs = [
      start(['run', file, '--out', local]),
      start(['run', file, '--out', slurm, '--executor', 'slurm', '--jobs', '2']),
    ];
    const [el, es] = await Promise.all(runs.map((r) => r.exit.then((x) => ({ ...x, ms: Date.now() - t0 }))));
    const [rl, rs] = runs.map((r, i) => ({ code: [el, es][i].code, stdout: r.output(), stderr: '' }));
    console.log(`# executors.yaml, run side by side: local sequential ${el.ms} ms, slurm --jobs 2 ${es.ms} ms`);
    assert.equal(rl.code, 1, rl.stdout + rl.stderr);
    assert.equal(rs.code, 1, rs.stdout + rs.stderr);
    assert.match(rs.stdout, /X-pass r0 submitted as Slurm job \d+/);

    const sl = statuses(local);
    const ss = statuses(slurm);
    const st = (s: typeof sl) => Object.fromEntries(s.map((e) => [e.id, e.status]));
    assert.deepEqual(st(sl), {
      'X-pass': 'passed',
      'X-sum': 'passed',
      'X-crash': 'failed',
      'X-nan': 'failed',
      'X-slow': 'failed',
      'X-stubborn': 'failed',
      'X-blocked': 'blocked',
    });
    assert.deepEqual(st(ss), st(sl));
    assert.deepEqual(attemptsByExp(slurm), attemptsByExp(local)); // crashed, failed, timeout alike
    const reason = (s: typeof sl, id: string) => s.find((e) => e.id === id)!.reason!;
    for (const s of [sl, ss]) {
      assert.match(reason(s, 'X-crash'), /exited with code 3 without a result: about to crash/);
      assert.match(reason(s, 'X-nan'), /key metric 'loss' is NaN language fr/);
      assert.match(reason(s, 'X-slow'), /^replicate 0: timed out after 3\.0s/);
      assert.match(
        reason(s, 'X-stubborn'),
        /^replicate 0: timed out after 6\.0s \(killed: still running 500ms after SIGTERM\)/,
      );
      assert.match(reason(s, 'X-blocked'), /^needs X-slow, which failed/);
    }
    assert.match(reason(ss, 'X-crash'), /\(Slurm: FAILED, NonZeroExitCode\)/);
    // The same numbers: seeds do not depend on the executor or on the order of running.
    for (const id of ['X-pass', 'X-sum', 'X-nan']) assert.deepEqual(metricsOf(slurm, id), metricsOf(local, id), id);
    assert.ok(
      metricsOf(slurm, 'X-sum').some((m) => /total=/.test(m)) &&
        metricsOf(slurm, 'X-sum').some((m) => m !== '0 - depRows=0'),
    );
    // Every Slurm attempt has its job id and Slurm's final state; the timed-out job was cancelled by us.
    withStore(slurm, (s) => {
      for (const a of s.attempts())
        assert.ok(a.executor === 'slurm' && /^\d+$/.test(a.jobId ?? ''), `${a.experiment} has a job id`);
      const slow = s.attempts('X-slow')[0];
      assert.equal(slurmJob(slow.jobId!).JobState, 'CANCELLED');
      assert.equal(s.attempts('X-crash')[0].jobState, 'FAILED');
      assert.equal(s.attempts('X-pass')[0].jobState, 'COMPLETED');
    });
  },
);

test('--jobs 2 on slurm runs two independent experiments at once and their dependent after both', { skip }, () => {
  const dir = join(tmp(), 'run');
  const r = cli(['run', join(FIX, 'parallel.yaml'), '--out', dir, '--executor', 'slurm', '--jobs', '2']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const [p1, p2, p3] = ['P-1', 'P-2', 'P-3'].map((id) => withStore(dir, (s) => s.attempts(id)[0]));
  // Slurm's own start and end times of the jobs (whole seconds), and the store's (milliseconds).
  const [j1, j2, j3] = [p1, p2, p3].map((a) => slurmJob(a.jobId!));
  const secs = (t: string) => Date.parse(t) / 1000;
  const overlapS = Math.min(secs(j1.EndTime), secs(j2.EndTime)) - Math.max(secs(j1.StartTime), secs(j2.StartTime));
  const ms = (t: string) => Date.parse(t);
  const overlapMs = Math.min(ms(p1.endedAt!), ms(p2.endedAt!)) - Math.max(ms(p1.startedAt), ms(p2.startedAt));
  console.log(
    `# P-1 job ${p1.jobId} ${j1.StartTime}–${j1.EndTime}, P-2 job ${p2.jobId} ${j2.StartTime}–${j2.EndTime}: Slurm overlap ${overlapS} s, attempts overlap ${overlapMs} ms; P-3 job ${p3.jobId} started ${j3.StartTime}`,
  );
  assert.ok(overlapS >= 2, `P-1 and P-2 ran at once in Slurm (overlap ${overlapS} s)`);
  assert.ok(overlapMs >= 2000, `P-1 and P-2 attempts overlap (${overlapMs} ms)`);
  // The dependent started only after both ended.
  assert.ok(ms(p3.startedAt) >= Math.max(ms(p1.endedAt!), ms(p2.endedAt!)));
  assert.ok(secs(j3.StartTime) >= Math.max(secs(j1.EndTime), secs(j2.EndTime)));
  assert.deepEqual(metricsOf(dir, 'P-3'), ['0 - depRows=2', '0 - total=0']);
});

test(
  'Ctrl-C cancels the running Slurm job, records it as interrupted and exits 130; status shows the job while it runs',
  { skip },
  async () => {
    const dir = join(tmp(), 'run');
    const run = start(['run', join(FIX, 'cancel.yaml'), '--out', dir, '--executor', 'slurm']);
    const attempts = await waitForAttempts(dir, (a) => a.some((x) => x.jobState === 'RUNNING'), 'C-1 running in Slurm');
    const job = attempts[0].jobId!;
    const status = JSON.parse(runCli(['status', dir, '--json']).stdout);
    assert.deepEqual(status.experiments[0].jobs, [{ replicate: 0, executor: 'slurm', jobId: job, state: 'RUNNING' }]);
    assert.match(runCli(['status', dir]).stdout, new RegExp(`C-1 .*running .*\\[r0: Slurm job ${job} RUNNING\\]`));
    const t0 = Date.now();
    run.child.kill('SIGINT');
    const { code } = await run.exit;
    console.log(
      `# Ctrl-C: orchestrator exited ${Date.now() - t0} ms after SIGINT; Slurm job ${job}: ${slurmJob(job).JobState}`,
    );
    assert.equal(code, 130, run.output());
    assert.match(run.output(), /SIGINT: stopping the running experiment \(cancelling its Slurm jobs\)/);
    assert.deepEqual(
      withStore(dir, (s) => s.attempts().map((a) => `${a.experiment}:${a.status}:${a.error}`)),
      ['C-1:interrupted:stopped by the user (Ctrl-C)'],
    );
    assert.match(slurmJob(job).JobState, /^(CANCELLED|COMPLETING)$/);
    for (let i = 0; i < 100 && cluster.cmd('squeue', ['-h', '-o', '%i']).trim() !== ''; i++) await sleep(100);
    assert.equal(slurmJob(job).JobState, 'CANCELLED');
    assert.equal(statuses(dir)[0].status, 'interrupted');
  },
);

test(
  'SIGKILL of the orchestrator: the next run adopts the job still running and takes the finished one, nothing runs twice',
  { skip },
  async () => {
    const dir = join(tmp(), 'run');
    const file = join(FIX, 'adopt.yaml');
    const run = start(['run', file, '--out', dir, '--executor', 'slurm', '--jobs', '2']);
    const running = await waitForAttempts(
      dir,
      (a) => a.filter((x) => x.jobState === 'RUNNING').length === 2,
      'Q-short and Q-long running in Slurm',
    );
    const jobOf = (id: string) => running.find((a) => a.experiment === id)!.jobId!;
    run.child.kill('SIGKILL');
    assert.equal((await run.exit).signal, 'SIGKILL');
    const killedAt = Date.now();
    // The jobs outlive the orchestrator; status says so.
    assert.equal(slurmJob(jobOf('Q-long')).JobState, 'RUNNING');
    const st = statuses(dir);
    assert.match(
      st.find((e) => e.id === 'Q-long')!.reason!,
      new RegExp(
        `Slurm job\\(s\\) ${jobOf('Q-long')} \\(last seen RUNNING\\) may still be running: run again to adopt them`,
      ),
    );
    // Let the short one finish while no orchestrator watches.
    for (let i = 0; i < 300 && slurmJob(jobOf('Q-short')).JobState !== 'COMPLETED'; i++) await sleep(100);
    assert.equal(slurmJob(jobOf('Q-short')).JobState, 'COMPLETED');
    assert.equal(slurmJob(jobOf('Q-long')).JobState, 'RUNNING');
    const t0 = Date.now();
    const again = cli(['run', file, '--out', dir, '--executor', 'slurm', '--jobs', '2']);
    console.log(
      `# adoption: restarted ${t0 - killedAt} ms after SIGKILL; the rerun took ${Date.now() - t0} ms (Q-long job ${jobOf('Q-long')} adopted, Q-short job ${jobOf('Q-short')} collected)`,
    );
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(
      again.stdout,
      /resuming: run 1 was stopped; 0 attempt\(s\) in flight recorded as interrupted; 1 Slurm job\(s\) still running adopted, 1 finished job\(s\) collected/,
    );
    assert.match(again.stdout, new RegExp(`Q-long r0 adopted Slurm job ${jobOf('Q-long')}`));
    // One attempt each, with the job ids the first run submitted: nothing was submitted again.
    withStore(dir, (s) => {
      const a = s
        .attempts()
        .sort((x, y) => x.experiment.localeCompare(y.experiment))
        .map(
          (x) =>
            `${x.experiment}:${x.status}:${x.experiment === 'Q-after' ? 'new job' : x.jobId === jobOf(x.experiment) ? 'same job' : `job ${x.jobId}`}`,
        );
      assert.deepEqual(a, ['Q-after:passed:new job', 'Q-long:passed:same job', 'Q-short:passed:same job']);
      assert.deepEqual(
        s.metrics('Q-long').map((m) => `${m.metric}=${m.value}`),
        ['slept=12000'],
      );
      assert.deepEqual(
        s.metrics('Q-after').map((m) => `${m.metric}=${m.value}`),
        ['total=0', 'depRows=2'],
      );
      assert.deepEqual(
        s.runs().map((r) => r.status),
        ['crashed', 'passed'],
      );
    });
  },
);
