// The executors' pure parts: how a job's end becomes an attempt status (for both executors), Slurm's
// states and exit codes, sbatch's command line and resources, the batch script's shared-filesystem
// check (run for real with sh); and --jobs 2 under the local executor, against a sequential run.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { JobEnd, JobRequest } from '../../src/pipeline/executor.ts';
import { EXIT_NO_JOB_FILE } from '../../src/pipeline/protocol.ts';
import { judgeAttempt } from '../../src/pipeline/runner.ts';
import {
  batchScript,
  mergeSlurm,
  parseExitCode,
  parseScontrol,
  parseSlurmOpts,
  sbatchArgs,
  slurmJobState,
  slurmTimeMinutes,
} from '../../src/pipeline/slurm.ts';
import { Store } from '../../src/pipeline/store.ts';
import { runCli } from '../helpers/cli.ts';

const FIX = fileURLToPath(new URL('../fixtures/pipelines/', import.meta.url));
const local = (e: Partial<JobEnd>): JobEnd => ({ exitCode: null, signal: null, startError: null, slurm: null, ...e });
const slurmEnd = (state: string, reason: string | null, exit: string): JobEnd => {
  const s = slurmJobState(state, reason, exit);
  assert.equal(s.phase, 'ended');
  return (s as { end: JobEnd }).end;
};
const judge = (end: JobEnd, more: Partial<Parameters<typeof judgeAttempt>[0]> = {}) =>
  judgeAttempt({
    end,
    result: null,
    timedOut: false,
    stopped: false,
    timeoutMs: 3000,
    killGraceMs: 500,
    lastLogLine: 'about to crash',
    ...more,
  });
const ok = { ok: true as const, metrics: [], artifacts: [] };

test('a job’s end maps onto the same attempt status under either executor', () => {
  // exit 0 with a result: passed (key metrics are checked by the caller)
  assert.equal(judge(local({ exitCode: 0 }), { result: ok }).status, 'passed');
  assert.equal(judge(slurmEnd('COMPLETED', 'None', '0:0'), { result: ok }).status, 'passed');
  // a crash without a result
  const lc = judge(local({ exitCode: 3 }));
  const sc = judge(slurmEnd('FAILED', 'NonZeroExitCode', '3:0'));
  assert.deepEqual([lc.status, sc.status], ['crashed', 'crashed']);
  assert.equal(lc.error, 'exited with code 3 without a result: about to crash');
  assert.equal(sc.error, 'exited with code 3 without a result: about to crash (Slurm: FAILED, NonZeroExitCode)');
  // the kind threw: its message, from the result file
  const thrown = { ok: false as const, error: 'boom\nstack', userError: false };
  assert.deepEqual(
    [
      judge(local({ exitCode: 1 }), { result: thrown }).error,
      judge(slurmEnd('FAILED', 'NonZeroExitCode', '1:0'), { result: thrown }).error,
    ],
    ['boom', 'boom'],
  );
  // our deadline, whatever Slurm then says; killed when still there after the grace
  assert.equal(judge(slurmEnd('CANCELLED', null, '0:15'), { timedOut: true }).error, 'timed out after 3.0s');
  assert.equal(
    judge(local({ signal: 'SIGKILL' }), { timedOut: true }).error,
    'timed out after 3.0s (killed: still running 500ms after SIGTERM)',
  );
  assert.equal(judge(local({ signal: 'SIGKILL' }), { timedOut: true }).status, 'timeout');
  // Ctrl-C stops the run
  const stop = judge(slurmEnd('CANCELLED', null, '0:15'), { stopped: true });
  assert.deepEqual([stop.status, stop.stopsRun, stop.retryable], ['interrupted', true, false]);
  // Slurm's own verdicts
  assert.deepEqual(
    [judge(slurmEnd('TIMEOUT', 'TimeLimit', '0:15')).status, judge(slurmEnd('TIMEOUT', 'TimeLimit', '0:15')).error],
    ['timeout', "timed out: Slurm's time limit ended the job (Slurm: TIMEOUT, TimeLimit)"],
  );
  const cancelled = judge(slurmEnd('CANCELLED', null, '0:15'));
  assert.deepEqual([cancelled.status, cancelled.stopsRun], ['interrupted', false]);
  for (const st of ['OUT_OF_MEMORY', 'NODE_FAIL']) {
    const r = judge(slurmEnd(st, st === 'NODE_FAIL' ? 'NodeDown' : null, '0:9'));
    assert.equal(r.status, 'failed');
    assert.match(r.error!, new RegExp(`^the job ended ${st}`));
  }
  // the job could not see its job file: a clear, final failure
  const nf = judge(slurmEnd('FAILED', 'NonZeroExitCode', `${EXIT_NO_JOB_FILE}:0`), {
    lastLogLine: 'langquant job: cannot read its job file /x on n1: the run folder must be on a filesystem …',
  });
  assert.deepEqual([nf.status, nf.retryable], ['failed', false]);
  // sbatch refused it: not retried
  const refused = judge(local({ startError: 'sbatch refused the job: invalid partition specified: gpu' }));
  assert.deepEqual([refused.status, refused.retryable], ['crashed', false]);
});

test('Slurm states, exit codes and scontrol lines', () => {
  assert.deepEqual(parseExitCode('3:0'), { exitCode: 3, signal: null });
  assert.deepEqual(parseExitCode('0:15'), { exitCode: null, signal: 'SIGTERM' });
  assert.deepEqual(parseExitCode('0:9'), { exitCode: null, signal: 'SIGKILL' });
  assert.deepEqual(parseExitCode(null), { exitCode: null, signal: null });
  assert.equal(slurmJobState('PENDING', 'Resources', null).phase, 'queued');
  assert.equal(slurmJobState('RUNNING', 'None', null).phase, 'running');
  assert.equal(slurmJobState('COMPLETING', 'None', null).phase, 'stopping');
  assert.equal(slurmJobState('CANCELLED by 0', 'None', '0:15').state, 'CANCELLED');
  const line =
    'JobId=7 JobName=lq-E-001.r0 UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=1 Nice=0 Account=(null) QOS=(null) JobState=FAILED Reason=NonZeroExitCode Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=3:0 RunTime=00:00:01 TimeLimit=00:01:00 TimeMin=N/A SubmitTime=2026-12-03T22:13:31 StartTime=2026-12-03T22:13:31 EndTime=2026-12-03T22:13:32 NumNodes=1 TRES=cpu=1,mem=100M,node=1,billing=1 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CPUs/Task=1 Command=/r/tmp/E-001.r0.a3.sbatch WorkDir=/r StdOut=/r/logs/E-001.r0.log';
  const f = parseScontrol(line);
  assert.deepEqual(
    [f.JobState, f.Reason, f.ExitCode, f.StartTime, f.TRES, f['CPUs/Task'], f.StdOut],
    [
      'FAILED',
      'NonZeroExitCode',
      '3:0',
      '2026-12-03T22:13:31',
      'cpu=1,mem=100M,node=1,billing=1',
      '1',
      '/r/logs/E-001.r0.log',
    ],
  );
});

const job = (slurm: JobRequest['slurm'] = {}): JobRequest => ({
  name: 'E-001.r0',
  jobFile: '/runs/x/tmp/E-001.r0.a3.job.json',
  resultFile: '/runs/x/tmp/E-001.r0.a3.result.json',
  progressFile: '/runs/x/tmp/E-001.r0.a3.progress.json',
  logFile: '/runs/x/logs/E-001.r0.log',
  cwd: '/pipelines',
  timeoutMs: 90_000,
  killGraceMs: 5000,
  slurm,
});

test('sbatch: --time is the timeout plus the grace in whole minutes; resources merge pipeline < experiment < --slurm-opt', () => {
  assert.equal(slurmTimeMinutes(1000, 300), 1);
  assert.equal(slurmTimeMinutes(60_000, 5000), 2);
  assert.equal(slurmTimeMinutes(3_600_000, 0), 60);
  const res = mergeSlurm(
    { partition: 'cpu', mem: '8G', extra: ['--exclusive'] },
    { partition: 'gpu', gres: 'gpu:1' },
    parseSlurmOpts(['account=lab', 'cpus=4', 'time-min=5', 'requeue']),
  );
  assert.deepEqual(res, {
    partition: 'gpu',
    mem: '8G',
    extra: ['--exclusive', '--time-min=5', '--requeue'],
    gres: 'gpu:1',
    account: 'lab',
    cpus: 4,
  });
  assert.deepEqual(sbatchArgs(job(res), '/runs/x/tmp/E-001.r0.a3.sbatch'), [
    '--parsable',
    '--job-name=lq-E-001.r0',
    '--chdir=/pipelines',
    '--output=/runs/x/logs/E-001.r0.log',
    '--open-mode=append',
    '--time=2',
    '--partition=gpu',
    '--account=lab',
    '--cpus-per-task=4',
    '--mem=8G',
    '--gres=gpu:1',
    '--exclusive',
    '--time-min=5',
    '--requeue',
    '/runs/x/tmp/E-001.r0.a3.sbatch',
  ]);
  assert.throws(() => parseSlurmOpts(['cpus=two']), /cpus is a whole number/);
  assert.throws(() => parseSlurmOpts(['Partition=x']), /write KEY=VALUE/);
  assert.throws(() => parseSlurmOpts(['mem=']), /mem needs a value/);
});

test('the batch script first checks that the job file is visible on the node, else exits 78 saying why', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lq-batch-'));
  const r = spawnSync('sh', ['-c', batchScript({ ...job(), jobFile: join(dir, "it's missing.job.json") })], {
    encoding: 'utf8',
  });
  assert.equal(r.status, EXIT_NO_JOB_FILE);
  assert.match(
    r.stderr,
    /^langquant job: cannot read its job file .*it's missing\.job\.json on \S+: the run folder must be on a filesystem that the login node and the compute nodes share/,
  );
});

test('--jobs 2 (local) runs independent experiments at once, dependents after, with the same results as one at a time', () => {
  const file = join(FIX, 'parallel.yaml');
  const seq = join(mkdtempSync(join(tmpdir(), 'lq-jobs-')), 'run');
  const par = join(mkdtempSync(join(tmpdir(), 'lq-jobs-')), 'run');
  const fresh = join(mkdtempSync(join(tmpdir(), 'lq-jobs-')), 'run');
  const t0 = Date.now();
  assert.equal(runCli(['run', file, '--out', seq]).code, 0);
  const t1 = Date.now();
  const r = runCli(['run', file, '--out', par, '--jobs', '2']);
  const t2 = Date.now();
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const read = (dir: string) => {
    const s = Store.openReadOnly(dir)!;
    try {
      return {
        attempts: s.attempts(),
        metrics: ['P-1', 'P-2', 'P-3'].map((id) => s.metrics(id).map((m) => `${m.metric}=${m.value}`)),
      };
    } finally {
      s.close();
    }
  };
  const a = read(seq);
  const b = read(par);
  assert.deepEqual(b.metrics, a.metrics);
  const at = (x: typeof b.attempts, id: string) => x.find((y) => y.experiment === id)!;
  const ms = (t: string) => Date.parse(t);
  const [p1, p2, p3] = ['P-1', 'P-2', 'P-3'].map((id) => at(b.attempts, id));
  const overlap = Math.min(ms(p1.endedAt!), ms(p2.endedAt!)) - Math.max(ms(p1.startedAt), ms(p2.startedAt));
  console.log(`# local: sequential ${t1 - t0} ms, --jobs 2 ${t2 - t1} ms; P-1 and P-2 overlap ${overlap} ms`);
  assert.ok(overlap >= 3000, `P-1 and P-2 ran at once (overlap ${overlap} ms)`);
  assert.ok(ms(p3.startedAt) >= Math.max(ms(p1.endedAt!), ms(p2.endedAt!)));
  // sequential: no overlap at all
  const [s1, s2] = ['P-1', 'P-2'].map((id) => at(a.attempts, id));
  assert.ok(ms(s2.startedAt) >= ms(s1.endedAt!));
  // each replicate is given its share of the cores (KindContext.cpus): all of them one at a time, half
  // of them each with --jobs 2 — P-3 too, though it runs alone (the share is the run's, not the moment's)
  const cpusOf = (dir: string, id: string) =>
    /cpus (\S+)/.exec(readFileSync(join(dir, 'logs', `${id}.r0.log`), 'utf8'))?.[1];
  const cores = String(availableParallelism());
  assert.deepEqual(
    ['P-1', 'P-2', 'P-3'].map((id) => cpusOf(seq, id)),
    [cores, cores, cores],
  );
  const half = String(Math.max(1, Math.floor(availableParallelism() / 2)));
  assert.deepEqual(
    ['P-1', 'P-2', 'P-3'].map((id) => cpusOf(par, id)),
    [half, half, half],
  );
  // warm workers: job ids are <worker pid>.<n>; one at a time, all three ran in one worker
  assert.ok(b.attempts.every((x) => x.executor === 'local' && /^\d+\.\d+$/.test(x.jobId!) && x.jobState === 'EXITED'));
  assert.equal(new Set(a.attempts.map((x) => x.jobId!.split('.')[0])).size, 1);
  // --no-warm-workers: a process per replicate (the id is its pid), the same results
  const f = runCli(['run', file, '--out', fresh, '--jobs', '2', '--no-warm-workers']);
  assert.equal(f.code, 0, f.stdout + f.stderr);
  const c = read(fresh);
  assert.deepEqual(c.metrics, a.metrics);
  assert.ok(c.attempts.every((x) => x.executor === 'local' && /^\d+$/.test(x.jobId!) && x.jobState === 'EXITED'));
  assert.equal(new Set(c.attempts.map((x) => x.jobId)).size, 3);
});

test('--executor slurm where Slurm is missing, and a bad --executor or --jobs, are one-line errors', () => {
  const file = join(FIX, 'parallel.yaml');
  const out = join(mkdtempSync(join(tmpdir(), 'lq-jobs-')), 'run');
  const r = runCli(['run', file, '--out', out, '--executor', 'slurm'], { env: { PATH: '/nonexistent' } });
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /^langquant: --executor slurm needs Slurm's sbatch, which is not on PATH; run langquant on a login node of the cluster \(or use --executor local\)\n$/,
  );
  assert.match(
    runCli(['run', file, '--out', out, '--executor', 'pbs']).stderr,
    /--executor pbs: expected one of local, slurm/,
  );
  assert.match(
    runCli(['run', file, '--out', out, '--jobs', '0']).stderr,
    /--jobs 0: expected 'auto' or an integer ≥ 1/,
  );
  assert.match(
    runCli(['run', file, '--out', out, '--slurm-opt', 'cpus=x']).stderr,
    /--slurm-opt cpus=x: cpus is a whole number ≥ 1/,
  );
});
