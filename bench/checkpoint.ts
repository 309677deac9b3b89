// Writes the benchmark's inputs when they are not cached: a GPT-2-small-shaped checkpoint
// (12 layers, hidden 768, 12 heads, vocab 50257, 1024 positions; every matrix N(0, 0.02²) from a
// seeded PRNG, norm gains 1, biases 0 — GPT-2's own initialisation; lm_head tied to wte and left
// out of the file, as Hugging Face saves it) and 4 sequences of 1024 random token ids.
// The safetensors file is streamed tensor by tensor (format: u64 header length, JSON header, data).

import { closeSync, existsSync, mkdirSync, openSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../src/util/rng.ts';

export const GPT2_SMALL = { vocab: 50257, positions: 1024, hidden: 768, layers: 12, heads: 12 } as const;

interface Entry {
  name: string;
  shape: number[];
  fill: 'normal' | 'ones' | 'zeros';
}

function entries(): Entry[] {
  const { vocab: V, positions: P, hidden: C, layers: L } = GPT2_SMALL;
  const out: Entry[] = [
    { name: 'transformer.wte.weight', shape: [V, C], fill: 'normal' },
    { name: 'transformer.wpe.weight', shape: [P, C], fill: 'normal' },
  ];
  for (let l = 0; l < L; l++) {
    const b = `transformer.h.${l}.`;
    out.push(
      { name: `${b}ln_1.weight`, shape: [C], fill: 'ones' },
      { name: `${b}ln_1.bias`, shape: [C], fill: 'zeros' },
      { name: `${b}attn.c_attn.weight`, shape: [C, 3 * C], fill: 'normal' },
      { name: `${b}attn.c_attn.bias`, shape: [3 * C], fill: 'zeros' },
      { name: `${b}attn.c_proj.weight`, shape: [C, C], fill: 'normal' },
      { name: `${b}attn.c_proj.bias`, shape: [C], fill: 'zeros' },
      { name: `${b}ln_2.weight`, shape: [C], fill: 'ones' },
      { name: `${b}ln_2.bias`, shape: [C], fill: 'zeros' },
      { name: `${b}mlp.c_fc.weight`, shape: [C, 4 * C], fill: 'normal' },
      { name: `${b}mlp.c_fc.bias`, shape: [4 * C], fill: 'zeros' },
      { name: `${b}mlp.c_proj.weight`, shape: [4 * C, C], fill: 'normal' },
      { name: `${b}mlp.c_proj.bias`, shape: [C], fill: 'zeros' },
    );
  }
  out.push({ name: 'transformer.ln_f.weight', shape: [C], fill: 'ones' }, { name: 'transformer.ln_f.bias', shape: [C], fill: 'zeros' });
  return out;
}

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** fp32 bytes of every weight (the tied output matrix counted once). */
export function weightBytes(): number {
  return entries().reduce((a, e) => a + 4 * numel(e.shape), 0);
}

/** Writes `dir`/config.json and model.safetensors unless present. Returns the directory. */
export function ensureCheckpoint(dir: string, seed = 1234): string {
  const file = join(dir, 'model.safetensors');
  if (existsSync(file) && existsSync(join(dir, 'config.json'))) return dir;
  mkdirSync(dir, { recursive: true });
  const list = entries();
  const header: Record<string, unknown> = { __metadata__: { format: 'pt', note: 'langquant benchmark, random weights' } };
  let offset = 0;
  for (const e of list) {
    const bytes = 4 * numel(e.shape);
    header[e.name] = { dtype: 'F32', shape: e.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // data starts 8-byte aligned
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
    writeSync(fd, len);
    writeSync(fd, Buffer.from(json, 'utf8'));
    const rng = new Rng(seed);
    for (const e of list) {
      const a = new Float32Array(numel(e.shape));
      if (e.fill === 'ones') a.fill(1);
      else if (e.fill === 'normal') for (let i = 0; i < a.length; i++) a[i] = 0.02 * rng.normal();
      const buf = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
      for (let done = 0; done < buf.length; ) done += writeSync(fd, buf, done, buf.length - done);
    }
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  const { vocab, positions, hidden, layers, heads } = GPT2_SMALL;
  const config = {
    model_type: 'gpt2',
    architectures: ['GPT2LMHeadModel'],
    vocab_size: vocab,
    n_positions: positions,
    n_ctx: positions,
    n_embd: hidden,
    n_layer: layers,
    n_head: heads,
    activation_function: 'gelu_new',
    layer_norm_epsilon: 1e-5,
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  return dir;
}

/** Writes `count` sequences of `length` random ids as the `nll --ids` JSON file unless present. */
export function ensureIds(path: string, count: number, length: number, seed = 99): string {
  if (existsSync(path)) return path;
  const rng = new Rng(seed);
  const seqs = Array.from({ length: count }, () => Array.from({ length }, () => rng.int(GPT2_SMALL.vocab)));
  writeFileSync(path, JSON.stringify(seqs));
  return path;
}
