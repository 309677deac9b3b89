// What the loader's NaN/±Inf check (src/model/finite.ts) costs: loads a large float32 GPT-2-shaped
// safetensors checkpoint (default: GPT-2-medium shape, 24 layers, hidden 1024, 355 M parameters,
// 1.4 GB) written once into a temporary folder, alternately
//   without the check: openCheckpoint + read every stored tensor (what loadModel does, minus the check)
//   with the check:    loadModel (validation, reads, and the check on every tensor)
//   read and touch:    the same, then one value read in every 4 KiB page — the first user-space
//                      touch of freshly read pages, which the first forward pass pays anyway (it
//                      costs most of the check on some virtual machines)
// and, on the loaded weights, the check alone; each measurement in a fresh process (so each allocates
// its arrays from the same state), the page cache warm. Prints the medians and the overhead; never asserts.
// Usage: node --import tsx bench/finite.ts [--layers 24] [--hidden 1024] [--repeat 5] [--keep]
// (--keep leaves the checkpoint in bench/.cache/finite-<layers>x<hidden> for the next run.)

import { spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCheckpoint } from '../src/model/checkpoint/source.ts';
import { firstNonFinite } from '../src/model/finite.ts';
import { loadModel } from '../src/model/load.ts';
import type { Tensor } from '../src/tensor/tensor.ts';
import { Rng } from '../src/util/rng.ts';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? Number(args[i + 1]) : dflt;
};
const L = opt('--layers', 24);
const C = opt('--hidden', 1024);
const repeat = Math.max(1, opt('--repeat', 5) | 0);
const keep = args.includes('--keep');
const V = 50257;
const P = 1024;

/** Writes config.json and model.safetensors (F32) of a GPT-2 with L layers of width C into `dir`. */
function writeCheckpoint(dir: string): number {
  const list: [string, number[]][] = [
    ['transformer.wte.weight', [V, C]],
    ['transformer.wpe.weight', [P, C]],
  ];
  for (let l = 0; l < L; l++) {
    const b = `transformer.h.${l}.`;
    list.push(
      [`${b}ln_1.weight`, [C]],
      [`${b}ln_1.bias`, [C]],
      [`${b}attn.c_attn.weight`, [C, 3 * C]],
      [`${b}attn.c_attn.bias`, [3 * C]],
      [`${b}attn.c_proj.weight`, [C, C]],
      [`${b}attn.c_proj.bias`, [C]],
      [`${b}ln_2.weight`, [C]],
      [`${b}ln_2.bias`, [C]],
      [`${b}mlp.c_fc.weight`, [C, 4 * C]],
      [`${b}mlp.c_fc.bias`, [4 * C]],
      [`${b}mlp.c_proj.weight`, [4 * C, C]],
      [`${b}mlp.c_proj.bias`, [C]],
    );
  }
  list.push(['transformer.ln_f.weight', [C]], ['transformer.ln_f.bias', [C]]);
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, shape] of list) {
    const bytes = 4 * shape.reduce((a, d) => a * d, 1);
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  // One seeded block of N(0, 0.02²) values, repeated: the data's values do not change the cost.
  const rng = new Rng(7);
  const block = new Float32Array(1 << 20);
  for (let i = 0; i < block.length; i++) block[i] = 0.02 * rng.normal();
  const blockBytes = Buffer.from(block.buffer);
  const file = join(dir, 'model.safetensors');
  const fd = openSync(`${file}.tmp`, 'w');
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
    writeSync(fd, len);
    writeSync(fd, Buffer.from(json, 'utf8'));
    for (let done = 0; done < offset;) {
      const n = Math.min(blockBytes.length, offset - done);
      done += writeSync(fd, blockBytes, 0, n);
    }
  } finally {
    closeSync(fd);
  }
  renameSync(`${file}.tmp`, file);
  const config = {
    model_type: 'gpt2',
    architectures: ['GPT2LMHeadModel'],
    vocab_size: V,
    n_positions: P,
    n_ctx: P,
    n_embd: C,
    n_layer: L,
    n_head: C / 64,
    activation_function: 'gelu_new',
    layer_norm_epsilon: 1e-5,
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return offset;
}

/** Reads every stored tensor, keeping them; `touch`: then reads one value in every 4 KiB page of each. */
function withoutCheck(dir: string, touch = false): number {
  const ckpt = openCheckpoint(dir);
  const held: Tensor[] = []; // kept, as loadModel keeps them: the same allocations on both sides
  try {
    for (const name of ckpt.tensors.keys()) held.push(ckpt.read(name));
  } finally {
    ckpt.close();
  }
  let sink = 0;
  if (touch) for (const t of held) for (let i = 0; i < t.data.length; i += 1024) sink += t.data[i];
  return held.reduce((n, t) => n + t.data.length, 0) + (sink === Infinity ? 1 : 0);
}

/** CPU time (user + system) of this process so far, ms: steadier than wall time on a busy machine. */
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** One measurement in this process (a fresh one per measurement: the same memory state each time). */
function measure(side: string, dir: string): void {
  const t = performance.now();
  const c0 = cpuMs();
  if (side === 'read' || side === 'touch') {
    const values = withoutCheck(dir, side === 'touch');
    console.log(JSON.stringify({ ms: performance.now() - t, cpu: cpuMs() - c0, values }));
    return;
  }
  const model = loadModel(dir);
  const loadMs = performance.now() - t;
  const cpu = cpuMs() - c0;
  const tensors = [...new Set<Tensor>(model.weights.values())];
  const c = cpuMs();
  if (tensors.some((x) => firstNonFinite(x.data) >= 0))
    throw new Error('the benchmark checkpoint holds a non-finite value');
  console.log(JSON.stringify({ ms: loadMs, cpu, checkCpu: cpuMs() - c }));
}

const side = args[args.indexOf('--side') + 1];
if (args.includes('--side')) {
  measure(side, args[args.indexOf('--dir') + 1]);
} else {
  const dir = keep ? join('bench/.cache', `finite-${L}x${C}`) : mkdtempSync(join(tmpdir(), 'langquant-finite-'));
  try {
    if (!existsSync(join(dir, 'model.safetensors'))) {
      mkdirSync(dir, { recursive: true });
      const t = performance.now();
      const bytes = writeCheckpoint(dir);
      console.log(
        `wrote ${dir}: ${(bytes / 2 ** 30).toFixed(2)} GiB float32 in ${((performance.now() - t) / 1000).toFixed(1)} s`,
      );
    }
    const run = (s: string) => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/finite.ts', '--side', s, '--dir', dir], {
        encoding: 'utf8',
      });
      if (r.status !== 0) throw new Error(`bench child (${s}) failed: ${r.stderr}`);
      return JSON.parse(r.stdout.trim().split('\n').pop()!) as {
        ms: number;
        cpu: number;
        values?: number;
        checkCpu?: number;
      };
    };
    run('read'); // warm the page cache: every measurement then reads from memory
    const rows: {
      read: number;
      readCpu: number;
      touch: number;
      touchCpu: number;
      load: number;
      loadCpu: number;
      check: number;
    }[] = [];
    let values = 0;
    for (let r = 0; r < repeat; r++) {
      const a = run('read');
      const p = run('touch');
      const b = run('load');
      values = a.values!;
      rows.push({
        read: a.ms,
        readCpu: a.cpu,
        touch: p.ms,
        touchCpu: p.cpu,
        load: b.ms,
        loadCpu: b.cpu,
        check: b.checkCpu!,
      });
      console.log(
        `run ${r + 1}/${repeat} (wall / CPU ms): read ${a.ms.toFixed(0)} / ${a.cpu.toFixed(0)}, read + touch ${p.ms.toFixed(0)} / ${p.cpu.toFixed(0)}, loadModel ${b.ms.toFixed(0)} / ${b.cpu.toFixed(0)}, the check alone ${b.checkCpu!.toFixed(0)} CPU`,
      );
    }
    const med = (k: keyof (typeof rows)[number]) => [...rows.map((x) => x[k])].sort((x, y) => x - y)[rows.length >> 1];
    const pct = (x: number, of: number) => `${((100 * x) / of).toFixed(1)} %`;
    console.log(
      `${L} layers × hidden ${C}: ${(values / 1e6).toFixed(0)} M parameters, ${((values * 4) / 2 ** 30).toFixed(2)} GiB float32; medians of ${repeat} runs, each in a fresh process, page cache warm`,
    );
    console.log(`                                   wall        CPU (user + system)`);
    console.log(
      `  reading every tensor, no check   ${med('read').toFixed(0).padStart(6)} ms   ${med('readCpu').toFixed(0).padStart(6)} ms`,
    );
    console.log(
      `  … and touching each page once    ${med('touch').toFixed(0).padStart(6)} ms   ${med('touchCpu').toFixed(0).padStart(6)} ms   (what the first forward pass pays anyway)`,
    );
    console.log(
      `  loadModel, with the check        ${med('load').toFixed(0).padStart(6)} ms   ${med('loadCpu').toFixed(0).padStart(6)} ms   (${pct(med('load') - med('touch'), med('touch'))} wall, ${pct(med('loadCpu') - med('touchCpu'), med('touchCpu'))} CPU more than read + touch; ${pct(med('loadCpu') - med('readCpu'), med('readCpu'))} CPU more than read alone)`,
    );
    console.log(
      `  the check alone, loaded weights                ${med('check').toFixed(0).padStart(6)} ms   (${pct(med('check'), med('readCpu'))} of the load's CPU; ${((med('check') * 1e6) / values).toFixed(2)} ns per value)`,
    );
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}
