// The SQLite store: schema version and migrations, NaN/Inf flags, latest passing attempt per
// replicate, replicate summaries, stale-run recovery.
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SCHEMA_VERSION, STORE_FILE, Store } from '../../src/pipeline/store.ts';

const dir = () => mkdtempSync(join(tmpdir(), 'lq-store-'));
const end = { durationMs: 5, exitCode: 0, signal: null, error: null };

test('a new store is in WAL mode at the current schema version; a newer one is refused', () => {
  const d = dir();
  const s = Store.open(d);
  assert.equal(s.schemaVersion(), SCHEMA_VERSION);
  assert.equal(s.db.pragma('journal_mode', { simple: true }), 'wal');
  s.close();
  const db = new Database(join(d, STORE_FILE));
  db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  db.close();
  assert.throws(
    () => Store.open(d),
    new RegExp(
      `written by a newer langquant \\(schema ${SCHEMA_VERSION + 1} > ${SCHEMA_VERSION}\\); upgrade langquant`,
    ),
  );
});

test('metrics keep NaN and ±Inf through an explicit flag; the latest passing attempt of each replicate wins', () => {
  const s = Store.open(dir());
  const run = s.beginRun({ pipelineFile: null, pipeline: {}, options: null, toolVersion: 't', pid: process.pid });
  const a = s.startAttempt({
    runId: run,
    experiment: 'X',
    fingerprint: 'f',
    replicate: 0,
    try: 1,
    seed: 1,
    logPath: 'l',
  });
  s.finishAttempt(a, { status: 'passed', ...end }, [
    { metric: 'm', value: NaN, language: 'en' },
    { metric: 'm', value: Infinity, language: 'fr' },
    { metric: 'm', value: -Infinity, language: 'sw' },
    { metric: 'm', value: 0.25, language: 'yo' },
  ]);
  const vals = s.metrics('X', 'f').map((m) => m.value);
  assert.ok(Number.isNaN(vals[0]));
  assert.deepEqual(vals.slice(1), [Infinity, -Infinity, 0.25]);
  // a rerun of replicate 0 replaces it; replicate 1 adds to it; a failed attempt never counts
  const b = s.startAttempt({
    runId: run,
    experiment: 'X',
    fingerprint: 'f',
    replicate: 0,
    try: 1,
    seed: 1,
    logPath: 'l',
  });
  s.finishAttempt(b, { status: 'passed', ...end }, [{ metric: 'm', value: 1, language: 'en' }]);
  const c = s.startAttempt({
    runId: run,
    experiment: 'X',
    fingerprint: 'f',
    replicate: 1,
    try: 1,
    seed: 2,
    logPath: 'l',
  });
  s.finishAttempt(c, { status: 'passed', ...end }, [{ metric: 'm', value: 3, language: 'en' }]);
  const d = s.startAttempt({
    runId: run,
    experiment: 'X',
    fingerprint: 'f',
    replicate: 2,
    try: 1,
    seed: 3,
    logPath: 'l',
  });
  s.finishAttempt(d, { status: 'failed', ...end, error: 'x' }, [{ metric: 'm', value: 99, language: 'en' }]);
  assert.deepEqual([...s.passingAttempts('X', 'f').keys()].sort(), [0, 1]);
  assert.deepEqual(
    s.metrics('X', 'f').map((m) => [m.replicate, m.value]),
    [
      [0, 1],
      [1, 3],
    ],
  );
  const sum = s.summarize('X', 'f');
  assert.equal(sum.length, 1);
  assert.equal(sum[0].n, 2);
  assert.equal(sum[0].mean, 2);
  assert.equal(sum[0].sd, Math.SQRT2);
  assert.ok(sum[0].lo < 2 && sum[0].hi > 2);
  assert.equal(s.metrics('X', 'other').length, 0);
  s.close();
});

test('a run whose orchestrator is gone is recovered: its running attempts become interrupted', () => {
  const s = Store.open(dir());
  const run = s.beginRun({ pipelineFile: null, pipeline: {}, options: null, toolVersion: 't', pid: 2 ** 22 + 12345 });
  s.startAttempt({ runId: run, experiment: 'X', fingerprint: 'f', replicate: 0, try: 1, seed: 1, logPath: 'l' });
  const stale = s.staleRuns(() => false);
  assert.deepEqual(
    stale.map((r) => r.id),
    [run],
  );
  assert.equal(s.recoverStale([run], 'gone'), 1);
  assert.equal(s.attempts('X')[0].status, 'interrupted');
  assert.equal(s.runs()[0].status, 'crashed');
  s.close();
});

test('claiming a run folder: refused while a live orchestrator holds it, allowed once it is gone', () => {
  const s = Store.open(dir());
  const first = s.claimRun(
    { pipelineFile: null, pipeline: {}, options: null, toolVersion: 't', pid: 4242 },
    () => true,
  );
  assert.throws(
    () => s.claimRun({ pipelineFile: null, pipeline: {}, options: null, toolVersion: 't', pid: 4343 }, () => true),
    /another langquant run \(pid 4242\) is using .*; wait for it to finish or stop it, then run again/,
  );
  assert.equal(s.runs().length, 1); // the refused claim wrote nothing
  const second = s.claimRun(
    { pipelineFile: null, pipeline: {}, options: null, toolVersion: 't', pid: 4343 },
    () => false,
  );
  assert.ok(second > first);
  s.close();
});
