// Interruptions: SIGKILL of the orchestrator mid-run, then a rerun that loses only the experiment in
// flight (nothing lost, nothing duplicated); Ctrl-C (SIGINT) stops the child, records it as
// interrupted and leaves the store consistent.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Store } from '../../src/pipeline/store.ts';
import { BIN, runCli } from '../helpers/cli.ts';

const FIX = fileURLToPath(new URL('../fixtures/pipelines/', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function start(args: string[]): {
  child: ChildProcess;
  output: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
} {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.on('exit', (code, signal) => res({ code, signal })),
  );
  return { child, output: () => out, exit };
}

/** Waits until K-3 has a running attempt (K-1 and K-2 stored), reading the store as it is written. */
async function waitForRunning(
  dir: string,
  id: string,
  timeoutMs = 60_000,
  output: () => string = () => '',
): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (existsSync(join(dir, 'langquant.sqlite'))) {
      try {
        const s = Store.openReadOnly(dir);
        const running = s?.attempts(id).some((a) => a.status === 'running');
        s?.close();
        if (running) return;
      } catch {
        /* the store is being created */
      }
    }
    await sleep(50);
  }
  throw new Error(`${id} never started within ${timeoutMs / 1000} s; the run printed:\n${output()}`);
}

const attemptSummary = (dir: string) => {
  const s = Store.openReadOnly(dir)!;
  try {
    return s.attempts().map((a) => `${a.experiment}:${a.status}`);
  } finally {
    s.close();
  }
};

test('SIGKILL of the orchestrator mid-run: the rerun resumes, losing only the experiment in flight', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'lq-kill-')), 'run');
  const file = join(FIX, 'slow.yaml');
  const run = start(['run', file, '--out', dir]);
  await waitForRunning(dir, 'K-3');
  run.child.kill('SIGKILL');
  assert.equal((await run.exit).signal, 'SIGKILL');
  assert.deepEqual(attemptSummary(dir), ['K-1:passed', 'K-2:passed', 'K-3:running']);
  // status sees that the orchestrator is gone
  const st = JSON.parse(runCli(['status', dir, '--json']).stdout);
  assert.equal(st.experiments.find((e: { id: string }) => e.id === 'K-3').status, 'interrupted');

  const again = runCli(['run', file, '--out', dir]);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, /resuming: run 1 was stopped; 1 attempt\(s\) in flight recorded as interrupted/);
  assert.match(again.stdout, /done: 4 passed; 2 ran, 2 reused/);
  assert.deepEqual(attemptSummary(dir), ['K-1:passed', 'K-2:passed', 'K-3:interrupted', 'K-3:passed', 'K-4:passed']);
  const s = Store.openReadOnly(dir)!;
  try {
    for (const id of ['K-1', 'K-2', 'K-3'])
      assert.deepEqual(
        s.metrics(id).map((m) => m.metric),
        ['slept'],
        id,
      );
    assert.equal((s.db.prepare(`SELECT COUNT(*) AS n FROM metrics`).get() as { n: number }).n, 5); // 3 × slept + total + depRows
    assert.deepEqual(
      s.runs().map((r) => r.status),
      ['crashed', 'passed'],
    );
  } finally {
    s.close();
  }
});

test('Ctrl-C stops the child, records the attempt as interrupted and exits 130', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'lq-int-')), 'run');
  const run = start(['run', join(FIX, 'slow.yaml'), '--out', dir]);
  await waitForRunning(dir, 'K-3', 60_000, () => run.output());
  const t0 = Date.now();
  run.child.kill('SIGINT');
  const { code } = await run.exit;
  assert.equal(code, 130, run.output());
  assert.ok(Date.now() - t0 < 3000, 'stopped promptly');
  assert.match(run.output(), /SIGINT: stopping the running experiment/);
  assert.match(run.output(), /interrupted: 2 passed, 1 not run, interrupted at K-3/);
  assert.deepEqual(attemptSummary(dir), ['K-1:passed', 'K-2:passed', 'K-3:interrupted']);
  const st = JSON.parse(runCli(['status', dir, '--json']).stdout);
  assert.deepEqual(
    st.experiments.map((e: { id: string; status: string }) => `${e.id}:${e.status}`),
    ['K-1:passed', 'K-2:passed', 'K-3:interrupted', 'K-4:pending'],
  );
  assert.equal(st.run.status, 'interrupted');
});
