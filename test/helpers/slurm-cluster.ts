// A real single-node Slurm cluster for tests (Debian's slurmctld, slurmd and munge), started in a
// temporary folder on free ports and stopped afterwards: everything (config, state, spool, logs,
// munge key and socket) lives in that folder. No systemd, cgroups or slurmdbd. Follows the recipe
// measured in ../shared/slurm/README.md: proctrack/linuxproc, task/none, cons_tres, accounting off,
// batch_sched_delay=0 (else jobs start ~3 s late), and a wait for the node to be idle and for the
// scheduler's first cycle (~3.5 s in all). Needs root (slurmd runs jobs as their user).

import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, hostname, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';

const BINARIES = [
  'slurmctld',
  'slurmd',
  'sbatch',
  'squeue',
  'scontrol',
  'scancel',
  'sinfo',
  'sdiag',
  'munged',
  'mungekey',
  'munge',
];
export const SLURM_PACKAGES = 'slurmctld slurmd slurm-client (which bring munge)';

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Why a test cluster cannot start here (a skip reason), or null when it can. */
export function slurmUnavailable(): string | null {
  const missing = BINARIES.filter((b) => !onPath(b));
  if (missing.length > 0)
    return `Slurm is not installed here (missing ${missing.join(', ')}): .ci/run installs ${SLURM_PACKAGES} with apt-get; as root: apt-get install -y --no-install-recommends slurmctld slurmd slurm-client`;
  if (process.getuid?.() !== 0) return 'starting a test Slurm cluster needs root (slurmd runs jobs as their user)';
  return null;
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });
}

/**
 * Two consecutive free ports (slurmctld, slurmd), chosen at random so that clusters of concurrent test runs do not
 * clash.
 */
async function freePorts(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = 20000 + 2 * Math.floor(Math.random() * 15000);
    if ((await portFree(p)) && (await portFree(p + 1))) return p;
  }
  throw new Error('no two free consecutive ports for the test Slurm cluster');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Cluster {
  dir: string;
  /** Environment for Slurm's clients (SLURM_CONF). */
  env: Record<string, string>;
  /** Runs a Slurm client command against this cluster; returns stdout (throws on failure). */
  cmd(program: string, args: string[]): string;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  cpus?: number; // advertised; more than the machine has oversubscribes (default: max(4, nproc))
  killWaitS?: number; // seconds between a job's SIGTERM and SIGKILL (default 5)
}

export async function startCluster(o: ClusterOptions = {}): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'lq-slurm-'));
  chmodSync(dir, 0o755); // munged refuses a socket below a folder others cannot traverse (unless --force)
  for (const d of ['state', 'spool', 'run', 'log', 'munge', 'munge-run']) mkdirSync(join(dir, d), { recursive: true });
  chmodSync(join(dir, 'munge'), 0o700);
  const host = hostname().split('.')[0];
  const ncpu = o.cpus ?? Math.max(4, cpus().length);
  const port = await freePorts();
  const memMb = Math.floor(totalmem() / 2 ** 20);
  const conf = join(dir, 'slurm.conf');
  const socket = join(dir, 'munge-run', 'munge.socket.2');
  writeFileSync(
    conf,
    [
      `ClusterName=lqtest`,
      `SlurmctldHost=${host}(127.0.0.1)`,
      `SlurmctldPort=${port}`,
      `SlurmdPort=${port + 1}`,
      'SlurmUser=root',
      'SlurmdUser=root',
      'AuthType=auth/munge',
      'CredType=cred/munge',
      `AuthInfo=socket=${socket}`,
      `StateSaveLocation=${dir}/state`,
      `SlurmdSpoolDir=${dir}/spool`,
      `SlurmctldPidFile=${dir}/run/slurmctld.pid`,
      `SlurmdPidFile=${dir}/run/slurmd.pid`,
      `SlurmctldLogFile=${dir}/log/slurmctld.log`,
      `SlurmdLogFile=${dir}/log/slurmd.log`,
      'SlurmctldDebug=info',
      'SlurmdDebug=info',
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_Core',
      'JobAcctGatherType=jobacct_gather/none',
      'AccountingStorageType=accounting_storage/none',
      'JobCompType=jobcomp/filetxt',
      `JobCompLoc=${dir}/log/jobcomp.log`,
      'MpiDefault=none',
      'MailProg=/bin/true',
      'ReturnToService=2',
      'SchedulerType=sched/backfill',
      'SchedulerParameters=batch_sched_delay=0',
      'MinJobAge=300',
      `KillWait=${o.killWaitS ?? 5}`,
      'OverTimeLimit=0',
      'InactiveLimit=0',
      'SlurmdTimeout=300',
      ...(ncpu > cpus().length ? ['SlurmdParameters=config_overrides'] : []),
      `NodeName=${host} NodeAddr=127.0.0.1 CPUs=${ncpu} RealMemory=${memMb} State=UNKNOWN`,
      `PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP`,
      '',
    ].join('\n'),
  );
  const env = { SLURM_CONF: conf };
  const cmd = (program: string, args: string[]) =>
    execFileSync(program, args, {
      env: { ...process.env, ...env },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  const cluster: Cluster = { dir, env, cmd, stop: () => stopCluster(dir, cmd) };
  try {
    const key = join(dir, 'munge', 'munge.key');
    execFileSync('mungekey', ['--create', `--keyfile=${key}`], { stdio: 'ignore' });
    chmodSync(key, 0o600);
    execFileSync(
      'munged',
      [
        '--force',
        `--key-file=${key}`,
        `--socket=${socket}`,
        `--pid-file=${dir}/munge-run/munged.pid`,
        `--log-file=${dir}/log/munged.log`,
        `--seed-file=${dir}/munge/munged.seed`,
      ],
      { stdio: 'ignore' },
    );
    execFileSync('slurmctld', ['-f', conf], { stdio: 'ignore' });
    execFileSync('slurmd', ['-f', conf, '-N', host], { stdio: 'ignore' });
    // The node must be idle and slurmctld's scheduler must have run once, else jobs just wait.
    const t0 = Date.now();
    for (;;) {
      let ready = false;
      try {
        ready =
          cmd('sinfo', ['-h', '-n', host, '-o', '%T']).trim() === 'idle' &&
          Number(/Total cycles:\s*(\d+)/.exec(cmd('sdiag', []))?.[1] ?? 0) >= 1;
      } catch {
        /* not up yet */
      }
      if (ready) break;
      if (Date.now() - t0 > 30_000) throw new Error(`the test Slurm cluster in ${dir} was not ready after 30 s`);
      await sleep(200);
    }
    return cluster;
  } catch (e) {
    const logs = ['slurmctld', 'slurmd', 'munged']
      .map((f) => join(dir, 'log', `${f}.log`))
      .filter(existsSync)
      .map((f) => `--- ${f}\n${readFileSync(f, 'utf8').split('\n').slice(-15).join('\n')}`);
    await stopCluster(dir, cmd).catch(() => {});
    throw new Error(`${(e as Error).message}\n${logs.join('\n')}`);
  }
}

function pidOf(file: string, name: string): number | null {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === name ? pid : null;
  } catch {
    return null;
  }
}

/** Cancels every job (a job's slurmstepd outlives slurmd otherwise), stops the daemons, removes the folder. */
async function stopCluster(dir: string, cmd: Cluster['cmd']): Promise<void> {
  try {
    const ids = cmd('squeue', ['-h', '-o', '%i']).split('\n').filter(Boolean);
    if (ids.length) {
      cmd('scancel', ids);
      for (let i = 0; i < 100 && cmd('squeue', ['-h', '-o', '%i']).trim() !== ''; i++) await sleep(200);
    }
  } catch {
    /* the controller is not up */
  }
  const pids = [
    pidOf(join(dir, 'run', 'slurmd.pid'), 'slurmd'),
    pidOf(join(dir, 'run', 'slurmctld.pid'), 'slurmctld'),
    pidOf(join(dir, 'munge-run', 'munged.pid'), 'munged'),
  ].filter((p): p is number => p !== null);
  for (const p of pids) process.kill(p, 'SIGTERM');
  for (
    let i = 0;
    i < 100 && pids.some((p) => existsSync(`/proc/${p}`) && !readFileSync(`/proc/${p}/stat`, 'utf8').includes(') Z'));
    i++
  )
    await sleep(100);
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  rmSync(dir, { recursive: true, force: true });
}
