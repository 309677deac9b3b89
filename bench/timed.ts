// A command run as a whole process under GNU time (`/usr/bin/time -v`): wall and CPU seconds (user +
// system, the process and every child it waited for) and the peak resident memory of the largest of them.

import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

export interface Timed {
  wallS: number;
  cpuS: number;
  maxRssKiB: number;
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `argv` under /usr/bin/time -v; the command's stdout also goes to `stdoutFile` when given. */
export function timed(argv: string[], stdoutFile?: string, env?: NodeJS.ProcessEnv): Timed {
  const r = spawnSync('/usr/bin/time', ['-v', ...argv], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
    env: env ?? process.env,
  });
  if (r.error)
    throw new Error(`/usr/bin/time could not run (${r.error.message}); install GNU time (apt-get install time)`);
  if (stdoutFile) writeFileSync(stdoutFile, r.stdout);
  const field = (re: RegExp) => re.exec(r.stderr)?.[1] ?? '';
  const clock = field(/Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)/)
    .split(':')
    .map(Number);
  const wallS = clock.reduce((a, x) => a * 60 + x, 0);
  const cpuS = Number(field(/User time \(seconds\): ([\d.]+)/)) + Number(field(/System time \(seconds\): ([\d.]+)/));
  const maxRssKiB = Number(field(/Maximum resident set size \(kbytes\): (\d+)/));
  return { wallS, cpuS, maxRssKiB, code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
