// The result store of one run folder: a SQLite database (better-sqlite3 v12) in WAL mode with a
// schema version and migrations. Metrics are long form with an explicit flag for NaN and ±Inf
// (SQLite stores a NaN REAL as NULL). All results of one attempt are written in one transaction,
// so a killed orchestrator loses at most the attempt in flight.
// Reference: MLflow's tracking store (long-form metrics, explicit NaN flag), DESIGN.md §6.

import Database from 'better-sqlite3';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../errors.ts';
import type { HashCache } from './hash.ts';
import type { ArtifactRow, ConsistencyResult, MetricInput, MetricRow } from './kind.ts';
import { summarize, type Summary } from './stats.ts';

export const STORE_FILE = 'langquant.sqlite';

/** Migrations: entry i brings the schema from version i to i + 1. Never edit a shipped one; append. */
const MIGRATIONS: string[] = [
  `
  CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    status TEXT NOT NULL,              -- running | passed | failed | interrupted | crashed
    pid INTEGER,
    pipeline_file TEXT,
    pipeline_json TEXT,                -- the normalised pipeline this run executed
    options_json TEXT,
    tool_version TEXT NOT NULL,
    summary TEXT
  );
  CREATE TABLE provenance (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
  );
  CREATE TABLE experiments (           -- the current state of each experiment of the pipeline
    id TEXT PRIMARY KEY,
    kind TEXT,
    phase TEXT,
    question TEXT,
    fingerprint TEXT,
    replicates INTEGER,
    status TEXT NOT NULL,              -- passed | failed | blocked | pending | running | interrupted
    reason TEXT,
    source TEXT,                       -- run | cache | import
    source_run INTEGER,
    note TEXT,
    complete INTEGER NOT NULL DEFAULT 0,  -- every replicate has stored results
    consistency_json TEXT,
    run_id INTEGER,
    updated_at TEXT NOT NULL
  );
  CREATE TABLE attempts (
    id INTEGER PRIMARY KEY,
    run_id INTEGER REFERENCES runs(id),
    experiment_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    replicate INTEGER NOT NULL,
    try INTEGER NOT NULL,
    seed INTEGER,
    status TEXT NOT NULL,              -- running | passed | failed | timeout | crashed | interrupted
    source TEXT NOT NULL DEFAULT 'run',-- run | import
    note TEXT,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    duration_ms REAL,
    exit_code INTEGER,
    signal TEXT,
    error TEXT,
    log_path TEXT
  );
  CREATE INDEX attempts_by_experiment ON attempts(experiment_id, fingerprint, replicate, status);
  CREATE TABLE metrics (
    attempt_id INTEGER NOT NULL REFERENCES attempts(id),
    experiment_id TEXT NOT NULL,
    replicate INTEGER NOT NULL,
    model TEXT,
    language TEXT,
    metric TEXT NOT NULL,
    value REAL,                        -- NULL unless flag = 'finite'
    flag TEXT NOT NULL CHECK (flag IN ('finite', 'nan', 'inf', '-inf'))
  );
  CREATE INDEX metrics_by_attempt ON metrics(attempt_id);
  CREATE TABLE artifacts (
    attempt_id INTEGER NOT NULL REFERENCES attempts(id),
    experiment_id TEXT NOT NULL,
    replicate INTEGER NOT NULL,
    path TEXT NOT NULL,                -- relative to the run folder
    sha256 TEXT NOT NULL,
    bytes INTEGER NOT NULL
  );
  CREATE TABLE hashes (path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ms REAL NOT NULL, sha256 TEXT NOT NULL);
  `,
  // 2: the executor that ran an attempt and its job there, so that a restarted orchestrator can adopt
  // a Slurm job that outlived the one that submitted it, and `status` can show it.
  `
  ALTER TABLE attempts ADD COLUMN executor TEXT;     -- local | slurm (NULL: before executors, or imported)
  ALTER TABLE attempts ADD COLUMN job_id TEXT;       -- the child's pid (local) or the Slurm job id
  ALTER TABLE attempts ADD COLUMN job_state TEXT;    -- the latest state seen: PENDING, RUNNING, COMPLETED, … (local: RUNNING, EXITED)
  ALTER TABLE attempts ADD COLUMN job_file TEXT;     -- the job file the child ran, relative to the run folder
  `,
];
export const SCHEMA_VERSION = MIGRATIONS.length;

export type AttemptStatus = 'running' | 'passed' | 'failed' | 'timeout' | 'crashed' | 'interrupted';
export type ExperimentStatus = 'passed' | 'failed' | 'blocked' | 'pending' | 'running' | 'interrupted';

export interface AttemptRow {
  id: number;
  runId: number | null;
  experiment: string;
  fingerprint: string;
  replicate: number;
  try: number;
  seed: number | null;
  status: AttemptStatus;
  source: 'run' | 'import';
  note: string | null;
  startedAt: string;
  endedAt: string | null;
  durationMs: number | null;
  exitCode: number | null;
  signal: string | null;
  error: string | null;
  logPath: string | null;
  executor: string | null;
  jobId: string | null;
  jobState: string | null;
  jobFile: string | null;
}

export interface ExperimentRow {
  id: string;
  kind: string | null;
  phase: string | null;
  question: string | null;
  fingerprint: string | null;
  replicates: number | null;
  status: ExperimentStatus;
  reason: string | null;
  source: 'run' | 'cache' | 'import' | null;
  sourceRun: number | null;
  note: string | null;
  complete: boolean;
  consistency: ConsistencyResult | null;
  runId: number | null;
  updatedAt: string;
}

export interface RunRow {
  id: number;
  startedAt: string;
  endedAt: string | null;
  status: string;
  pid: number | null;
  pipelineFile: string | null;
  pipeline: unknown;
  options: unknown;
  toolVersion: string;
  summary: string | null;
}

export interface MetricSummary extends Summary {
  model: string | null;
  language: string | null;
  metric: string;
  nonFinite: number; // replicates whose value was NaN or ±Inf (left out of the summary)
  min: number; // smallest and largest finite replicate value (NaN when none): an interval bound's worst replicate
  max: number;
}

const now = () => new Date().toISOString();

export function encodeValue(v: number): { value: number | null; flag: 'finite' | 'nan' | 'inf' | '-inf' } {
  if (Number.isFinite(v)) return { value: v, flag: 'finite' };
  if (Number.isNaN(v)) return { value: null, flag: 'nan' };
  return { value: null, flag: v > 0 ? 'inf' : '-inf' };
}

export function decodeValue(value: number | null, flag: string): number {
  return flag === 'finite' ? (value as number) : flag === 'nan' ? NaN : flag === 'inf' ? Infinity : -Infinity;
}

/** Whether a run's orchestrator is still alive (passed to claimRun and staleRuns); src/util/process.ts. */
export { isProcessAlive } from '../util/process.ts';

export class Store {
  readonly db: Database.Database;
  readonly runDir: string;
  readonly path: string;

  private constructor(runDir: string, db: Database.Database) {
    this.runDir = runDir;
    this.db = db;
    this.path = join(runDir, STORE_FILE);
  }

  /** Opens (creating if needed) the store of a run folder and migrates it to the current schema. */
  static open(runDir: string): Store {
    ensureRunDir(runDir);
    const p = join(runDir, STORE_FILE);
    const s = asStoreError(p, () => {
      const db = new Database(p);
      try {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL');
        db.pragma('busy_timeout = 10000');
        db.pragma('foreign_keys = ON');
        return new Store(runDir, db);
      } catch (e) {
        db.close();
        throw e;
      }
    });
    try {
      s.migrate();
    } catch (e) {
      s.close();
      throw e;
    }
    return s;
  }

  /** Opens an existing store for reading only; null when the folder has none. */
  static openReadOnly(runDir: string): Store | null {
    const p = join(runDir, STORE_FILE);
    if (!existsSync(p)) return null;
    const { s, v } = asStoreError(p, () => {
      const db = new Database(p, { readonly: true, fileMustExist: true });
      try {
        db.pragma('busy_timeout = 10000');
        const st = new Store(runDir, db);
        return { s: st, v: st.schemaVersion() };
      } catch (e) {
        db.close();
        throw e;
      }
    });
    if (v > SCHEMA_VERSION) {
      s.close();
      throw new ConfigError(
        `${p} was written by a newer langquant (schema ${v} > ${SCHEMA_VERSION}); upgrade langquant`,
      );
    }
    if (v < SCHEMA_VERSION) {
      // An older store: reading needs the current schema, so migrate through a writable handle.
      s.close();
      Store.open(runDir).close();
      return Store.openReadOnly(runDir);
    }
    return s;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  private migrate(): void {
    const v = asStoreError(this.path, () => this.schemaVersion());
    if (v > SCHEMA_VERSION)
      throw new ConfigError(
        `${this.path} was written by a newer langquant (schema ${v} > ${SCHEMA_VERSION}); upgrade langquant`,
      );
    // Another process (a `status` beside a starting `run`, a second orchestrator) may migrate the same file
    // at the same moment: each step takes the write lock first (IMMEDIATE) and reads the version again
    // under it, so a step is applied once, by whoever gets there first.
    for (let i = v; i < SCHEMA_VERSION; i++) {
      this.db
        .transaction(() => {
          if (this.schemaVersion() > i) return;
          this.db.exec(MIGRATIONS[i]);
          this.db.pragma(`user_version = ${i + 1}`);
        })
        .immediate();
    }
  }

  // ------------------------------------------------------------ runs and provenance

  beginRun(r: {
    pipelineFile: string | null;
    pipeline: unknown;
    options: unknown;
    toolVersion: string;
    pid: number;
  }): number {
    const info = this.db
      .prepare(
        `INSERT INTO runs (started_at, status, pid, pipeline_file, pipeline_json, options_json, tool_version) VALUES (?, 'running', ?, ?, ?, ?, ?)`,
      )
      .run(now(), r.pid, r.pipelineFile, JSON.stringify(r.pipeline), JSON.stringify(r.options), r.toolVersion);
    return Number(info.lastInsertRowid);
  }

  /**
   * Begins a run unless a live orchestrator (per `isAlive`) already holds the folder: the check and the
   * insert are one IMMEDIATE transaction, so two runs started together cannot both go ahead.
   */
  claimRun(
    r: { pipelineFile: string | null; pipeline: unknown; options: unknown; toolVersion: string; pid: number },
    isAlive: (pid: number) => boolean,
  ): number {
    return this.db
      .transaction(() => {
        const live = this.runs().filter(
          (x) => x.status === 'running' && x.pid !== null && x.pid !== r.pid && isAlive(x.pid),
        );
        if (live.length > 0)
          throw new ConfigError(
            `another langquant run (pid ${live[0].pid}) is using ${this.runDir}; wait for it to finish or stop it, then run again`,
          );
        return this.beginRun(r);
      })
      .immediate();
  }

  endRun(runId: number, status: string, summary: string): void {
    this.db
      .prepare(`UPDATE runs SET ended_at = ?, status = ?, summary = ? WHERE id = ?`)
      .run(now(), status, summary, runId);
  }

  setProvenance(runId: number, entries: Record<string, unknown>): void {
    const st = this.db.prepare(`INSERT OR REPLACE INTO provenance (run_id, key, value) VALUES (?, ?, ?)`);
    this.db.transaction(() => {
      for (const [k, v] of Object.entries(entries)) st.run(runId, k, typeof v === 'string' ? v : JSON.stringify(v));
    })();
  }

  provenance(runId: number): Record<string, string> {
    const rows = this.db.prepare(`SELECT key, value FROM provenance WHERE run_id = ? ORDER BY key`).all(runId) as {
      key: string;
      value: string;
    }[];
    return Object.fromEntries(rows.map((r) => [r.key, r.value]));
  }

  runs(): RunRow[] {
    return (this.db.prepare(`SELECT * FROM runs ORDER BY id`).all() as Record<string, unknown>[]).map(toRun);
  }

  latestRun(): RunRow | null {
    const r = this.db.prepare(`SELECT * FROM runs WHERE pipeline_json IS NOT NULL ORDER BY id DESC LIMIT 1`).get() as
      Record<string, unknown> | undefined;
    return r ? toRun(r) : null;
  }

  /** Runs still marked running whose orchestrator process is gone (killed), per `isAlive`. */
  staleRuns(isAlive: (pid: number) => boolean): RunRow[] {
    return this.runs().filter((r) => r.status === 'running' && (r.pid === null || !isAlive(r.pid)));
  }

  /**
   * After an orchestrator was killed: its run becomes 'crashed', its running attempts and
   * experiments 'interrupted', except the attempts in `keep` (jobs still running elsewhere, which the
   * new orchestrator adopts). Returns the number of attempts marked interrupted.
   */
  recoverStale(runIds: number[], reason: string, keep: readonly number[] = []): number {
    let n = 0;
    this.db.transaction(() => {
      for (const id of runIds) {
        this.db
          .prepare(`UPDATE runs SET status = 'crashed', ended_at = COALESCE(ended_at, ?) WHERE id = ?`)
          .run(now(), id);
        n += this.db
          .prepare(
            `UPDATE attempts SET status = 'interrupted', ended_at = ?, error = ? WHERE run_id = ? AND status = 'running' AND id NOT IN (SELECT value FROM json_each(?))`,
          )
          .run(now(), reason, id, JSON.stringify(keep)).changes;
        this.db
          .prepare(
            `UPDATE experiments SET status = 'interrupted', reason = ?, updated_at = ? WHERE run_id = ? AND status = 'running'`,
          )
          .run(reason, now(), id);
      }
    })();
    return n;
  }

  // ------------------------------------------------------------ attempts and results

  startAttempt(a: {
    runId: number;
    experiment: string;
    fingerprint: string;
    replicate: number;
    try: number;
    seed: number;
    logPath: string;
  }): number {
    const info = this.db
      .prepare(
        `INSERT INTO attempts (run_id, experiment_id, fingerprint, replicate, try, seed, status, started_at, log_path) VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?)`,
      )
      .run(a.runId, a.experiment, a.fingerprint, a.replicate, a.try, a.seed, now(), a.logPath);
    return Number(info.lastInsertRowid);
  }

  /** Records where an attempt runs: its executor, job id (pid or Slurm job id) and job file. */
  setAttemptJob(attemptId: number, job: { executor: string; jobId: string; jobState: string; jobFile: string }): void {
    this.db
      .prepare(`UPDATE attempts SET executor = ?, job_id = ?, job_state = ?, job_file = ? WHERE id = ?`)
      .run(job.executor, job.jobId, job.jobState, job.jobFile, attemptId);
  }

  /** The latest state an executor reported for an attempt's job (shown by `status`). */
  setJobState(attemptId: number, state: string): void {
    this.db.prepare(`UPDATE attempts SET job_state = ? WHERE id = ?`).run(state, attemptId);
  }

  /** Attempts still marked running in the given runs, oldest first. */
  runningAttempts(runIds: readonly number[]): AttemptRow[] {
    return (
      this.db
        .prepare(
          `SELECT * FROM attempts WHERE status = 'running' AND run_id IN (SELECT value FROM json_each(?)) ORDER BY id`,
        )
        .all(JSON.stringify(runIds)) as Record<string, unknown>[]
    ).map(toAttempt);
  }

  /** Ends an attempt and stores its metrics and artifacts, all in one transaction. */
  finishAttempt(
    attemptId: number,
    end: {
      status: AttemptStatus;
      durationMs: number;
      exitCode: number | null;
      signal: string | null;
      error: string | null;
    },
    metrics: readonly MetricInput[] = [],
    artifacts: readonly { path: string; sha256: string; bytes: number }[] = [],
  ): void {
    const a = this.attempt(attemptId);
    if (!a) throw new Error(`finishAttempt: no attempt ${attemptId}`);
    const insM = this.db.prepare(
      `INSERT INTO metrics (attempt_id, experiment_id, replicate, model, language, metric, value, flag) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const insA = this.db.prepare(
      `INSERT INTO artifacts (attempt_id, experiment_id, replicate, path, sha256, bytes) VALUES (?, ?, ?, ?, ?, ?)`,
    );
    this.db.transaction(() => {
      this.db
        .prepare(
          `UPDATE attempts SET status = ?, ended_at = ?, duration_ms = ?, exit_code = ?, signal = ?, error = ? WHERE id = ?`,
        )
        .run(end.status, now(), end.durationMs, end.exitCode, end.signal, end.error, attemptId);
      for (const m of metrics) {
        const { value, flag } = encodeValue(m.value);
        insM.run(attemptId, a.experiment, a.replicate, m.model ?? null, m.language ?? null, m.metric, value, flag);
      }
      for (const f of artifacts) insA.run(attemptId, a.experiment, a.replicate, f.path, f.sha256, f.bytes);
    })();
  }

  /** Stores results obtained elsewhere as passed attempts with source 'import' (one transaction). */
  importResults(
    runId: number | null,
    experiment: string,
    fingerprint: string,
    note: string,
    byReplicate: Map<number, MetricInput[]>,
  ): number[] {
    const ids: number[] = [];
    this.db.transaction(() => {
      for (const [rep, metrics] of [...byReplicate].sort((a, b) => a[0] - b[0])) {
        const t = now();
        const info = this.db
          .prepare(
            `INSERT INTO attempts (run_id, experiment_id, fingerprint, replicate, try, status, source, note, started_at, ended_at) VALUES (?, ?, ?, ?, 1, 'passed', 'import', ?, ?, ?)`,
          )
          .run(runId, experiment, fingerprint, rep, note, t, t);
        const id = Number(info.lastInsertRowid);
        ids.push(id);
        const insM = this.db.prepare(
          `INSERT INTO metrics (attempt_id, experiment_id, replicate, model, language, metric, value, flag) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        );
        for (const m of metrics) {
          const { value, flag } = encodeValue(m.value);
          insM.run(id, experiment, rep, m.model ?? null, m.language ?? null, m.metric, value, flag);
        }
      }
    })();
    return ids;
  }

  attempt(id: number): AttemptRow | null {
    const r = this.db.prepare(`SELECT * FROM attempts WHERE id = ?`).get(id) as Record<string, unknown> | undefined;
    return r ? toAttempt(r) : null;
  }

  attempts(experiment?: string): AttemptRow[] {
    const rows = (
      experiment === undefined
        ? this.db.prepare(`SELECT * FROM attempts ORDER BY id`).all()
        : this.db.prepare(`SELECT * FROM attempts WHERE experiment_id = ? ORDER BY id`).all(experiment)
    ) as Record<string, unknown>[];
    return rows.map(toAttempt);
  }

  /** The latest passing attempt of each replicate of an experiment under a fingerprint. */
  passingAttempts(experiment: string, fingerprint: string): Map<number, AttemptRow> {
    const rows = this.db
      .prepare(`SELECT * FROM attempts WHERE experiment_id = ? AND fingerprint = ? AND status = 'passed' ORDER BY id`)
      .all(experiment, fingerprint) as Record<string, unknown>[];
    const m = new Map<number, AttemptRow>();
    for (const r of rows) m.set(r.replicate as number, toAttempt(r)); // later attempts replace earlier ones
    return m;
  }

  /** The latest passing attempt of one replicate under the experiment's current fingerprint. */
  latestPassingAttempt(experiment: string, replicate = 0): AttemptRow | null {
    const fp = this.experiment(experiment)?.fingerprint;
    return fp ? (this.passingAttempts(experiment, fp).get(replicate) ?? null) : null;
  }

  /** The latest import of an experiment: its fingerprint, note and replicate count. */
  imported(experiment: string): { fingerprint: string; note: string | null; replicates: number } | null {
    const r = this.db
      .prepare(
        `SELECT fingerprint, note FROM attempts WHERE experiment_id = ? AND source = 'import' AND status = 'passed' ORDER BY id DESC LIMIT 1`,
      )
      .get(experiment) as { fingerprint: string; note: string | null } | undefined;
    if (!r) return null;
    const n = this.db
      .prepare(
        `SELECT COUNT(DISTINCT replicate) AS n FROM attempts WHERE experiment_id = ? AND fingerprint = ? AND status = 'passed'`,
      )
      .get(experiment, r.fingerprint) as { n: number };
    return { fingerprint: r.fingerprint, note: r.note, replicates: n.n };
  }

  pastDurationMs(experiment: string): number | null {
    const r = this.db
      .prepare(
        `SELECT AVG(duration_ms) AS d FROM (SELECT duration_ms FROM attempts WHERE experiment_id = ? AND status = 'passed' AND source = 'run' AND duration_ms IS NOT NULL ORDER BY id DESC LIMIT 5)`,
      )
      .get(experiment) as { d: number | null };
    return r.d;
  }

  /** Metrics of given attempts, in insertion order. */
  metricsOfAttempts(attemptIds: readonly number[]): MetricRow[] {
    if (attemptIds.length === 0) return [];
    const rows = this.db
      .prepare(
        `SELECT m.experiment_id, m.replicate, m.model, m.language, m.metric, m.value, m.flag, a.source FROM metrics m JOIN attempts a ON a.id = m.attempt_id
         WHERE m.attempt_id IN (SELECT value FROM json_each(?)) ORDER BY m.rowid`,
      )
      .all(JSON.stringify(attemptIds)) as {
      experiment_id: string;
      replicate: number;
      model: string | null;
      language: string | null;
      metric: string;
      value: number | null;
      flag: string;
      source: 'run' | 'import';
    }[];
    return rows.map((r) => ({
      experiment: r.experiment_id,
      replicate: r.replicate,
      model: r.model,
      language: r.language,
      metric: r.metric,
      value: decodeValue(r.value, r.flag),
      source: r.source,
    }));
  }

  /**
   * The current results of an experiment: the metrics of the latest passing attempt of each replicate
   * under `fingerprint` (default: the experiment's current one). Each row says whether it was imported.
   */
  metrics(
    experiment: string,
    fingerprint?: string | null,
    filter: { replicate?: number; metric?: string; model?: string | null; language?: string | null } = {},
  ): MetricRow[] {
    const fp = fingerprint ?? this.experiment(experiment)?.fingerprint;
    if (!fp) return [];
    const ids = [...this.passingAttempts(experiment, fp).values()]
      .filter((a) => filter.replicate === undefined || a.replicate === filter.replicate)
      .map((a) => a.id);
    return this.metricsOfAttempts(ids).filter(
      (m) =>
        (filter.metric === undefined || m.metric === filter.metric) &&
        (filter.model === undefined || m.model === filter.model) &&
        (filter.language === undefined || m.language === filter.language),
    );
  }

  artifacts(experiment: string, fingerprint?: string | null): ArtifactRow[] {
    const fp = fingerprint ?? this.experiment(experiment)?.fingerprint;
    if (!fp) return [];
    const ids = [...this.passingAttempts(experiment, fp).values()].map((a) => a.id);
    if (ids.length === 0) return [];
    return (
      this.db
        .prepare(
          `SELECT experiment_id, replicate, path, sha256, bytes FROM artifacts WHERE attempt_id IN (SELECT value FROM json_each(?)) ORDER BY rowid`,
        )
        .all(JSON.stringify(ids)) as {
        experiment_id: string;
        replicate: number;
        path: string;
        sha256: string;
        bytes: number;
      }[]
    ).map((r) => ({
      experiment: r.experiment_id,
      replicate: r.replicate,
      path: r.path,
      sha256: r.sha256,
      bytes: r.bytes,
    }));
  }

  /** Mean, sd and 95 % interval over replicates of each (model, language, metric) of an experiment. */
  summarize(experiment: string, fingerprint?: string | null): MetricSummary[] {
    const groups = new Map<
      string,
      { model: string | null; language: string | null; metric: string; values: number[]; nonFinite: number }
    >();
    for (const m of this.metrics(experiment, fingerprint)) {
      const k = `${m.model ?? ''}\u0000${m.language ?? ''}\u0000${m.metric}`;
      const g =
        groups.get(k) ??
        groups.set(k, { model: m.model, language: m.language, metric: m.metric, values: [], nonFinite: 0 }).get(k)!;
      if (Number.isFinite(m.value)) g.values.push(m.value);
      else g.nonFinite++;
    }
    return [...groups.values()].map((g) => ({
      model: g.model,
      language: g.language,
      metric: g.metric,
      nonFinite: g.nonFinite,
      ...summarize(g.values),
      min: g.values.length ? Math.min(...g.values) : NaN,
      max: g.values.length ? Math.max(...g.values) : NaN,
    }));
  }

  // ------------------------------------------------------------ experiment states

  setExperiment(e: Omit<ExperimentRow, 'updatedAt'>): void {
    this.db
      .prepare(
        `INSERT OR REPLACE INTO experiments (id, kind, phase, question, fingerprint, replicates, status, reason, source, source_run, note, complete, consistency_json, run_id, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        e.id,
        e.kind,
        e.phase,
        e.question,
        e.fingerprint,
        e.replicates,
        e.status,
        e.reason,
        e.source,
        e.sourceRun,
        e.note,
        e.complete ? 1 : 0,
        e.consistency ? JSON.stringify(e.consistency) : null,
        e.runId,
        now(),
      );
  }

  experiment(id: string): ExperimentRow | null {
    const r = this.db.prepare(`SELECT * FROM experiments WHERE id = ?`).get(id) as Record<string, unknown> | undefined;
    return r ? toExperiment(r) : null;
  }

  experiments(): ExperimentRow[] {
    return (this.db.prepare(`SELECT * FROM experiments`).all() as Record<string, unknown>[]).map(toExperiment);
  }

  // ------------------------------------------------------------ content-hash cache

  hashCache(): HashCache {
    const get = this.db.prepare(`SELECT sha256 FROM hashes WHERE path = ? AND size = ? AND mtime_ms = ?`);
    const put = this.db.prepare(`INSERT OR REPLACE INTO hashes (path, size, mtime_ms, sha256) VALUES (?, ?, ?, ?)`);
    const readonly = this.db.readonly;
    return {
      get: (p, size, mtimeMs) => (get.get(p, size, mtimeMs) as { sha256: string } | undefined)?.sha256,
      put: (p, size, mtimeMs, sha) => {
        if (!readonly) put.run(p, size, mtimeMs, sha);
      },
    };
  }
}

/** Creates a run folder, or checks that an existing path is a folder. */
export function ensureRunDir(runDir: string): void {
  if (existsSync(runDir) && !statSync(runDir).isDirectory())
    throw new ConfigError(`run folder ${runDir} is a file, not a folder; use another run folder`);
  mkdirSync(runDir, { recursive: true });
}

/** Runs `f`, turning SQLite's "not a database" / "corrupt" errors into a one-line ConfigError. */
function asStoreError<T>(path: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^SQLITE_(NOTADB|CORRUPT|CANTOPEN)/.test(code))
      throw new ConfigError(
        `${path} is not a readable langquant store (${(e as Error).message}); move it away or use another run folder`,
      );
    throw e;
  }
}

function toRun(r: Record<string, unknown>): RunRow {
  return {
    id: r.id as number,
    startedAt: r.started_at as string,
    endedAt: (r.ended_at as string) ?? null,
    status: r.status as string,
    pid: (r.pid as number) ?? null,
    pipelineFile: (r.pipeline_file as string) ?? null,
    pipeline: r.pipeline_json ? JSON.parse(r.pipeline_json as string) : null,
    options: r.options_json ? JSON.parse(r.options_json as string) : null,
    toolVersion: r.tool_version as string,
    summary: (r.summary as string) ?? null,
  };
}

function toAttempt(r: Record<string, unknown>): AttemptRow {
  return {
    id: r.id as number,
    runId: (r.run_id as number) ?? null,
    experiment: r.experiment_id as string,
    fingerprint: r.fingerprint as string,
    replicate: r.replicate as number,
    try: r.try as number,
    seed: (r.seed as number) ?? null,
    status: r.status as AttemptStatus,
    source: r.source as 'run' | 'import',
    note: (r.note as string) ?? null,
    startedAt: r.started_at as string,
    endedAt: (r.ended_at as string) ?? null,
    durationMs: (r.duration_ms as number) ?? null,
    exitCode: (r.exit_code as number) ?? null,
    signal: (r.signal as string) ?? null,
    error: (r.error as string) ?? null,
    logPath: (r.log_path as string) ?? null,
    executor: (r.executor as string) ?? null,
    jobId: (r.job_id as string) ?? null,
    jobState: (r.job_state as string) ?? null,
    jobFile: (r.job_file as string) ?? null,
  };
}

function toExperiment(r: Record<string, unknown>): ExperimentRow {
  return {
    id: r.id as string,
    kind: (r.kind as string) ?? null,
    phase: (r.phase as string) ?? null,
    question: (r.question as string) ?? null,
    fingerprint: (r.fingerprint as string) ?? null,
    replicates: (r.replicates as number) ?? null,
    status: r.status as ExperimentStatus,
    reason: (r.reason as string) ?? null,
    source: (r.source as ExperimentRow['source']) ?? null,
    sourceRun: (r.source_run as number) ?? null,
    note: (r.note as string) ?? null,
    complete: r.complete === 1,
    consistency: r.consistency_json ? (JSON.parse(r.consistency_json as string) as ConsistencyResult) : null,
    runId: (r.run_id as number) ?? null,
    updatedAt: r.updated_at as string,
  };
}
