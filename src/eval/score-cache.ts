// A per-unit score cache on disk, shared by every experiment and replicate of a run folder (and by
// the processes that run them at the same time): what scoring one text with one model gave, so that
// a unit is scored once per model however many experiments, replicates and reruns ask for it.
//
// An entry is keyed by everything that decides its numbers: the model as scored (the caller's
// fingerprint: a folder's content hash, or a hash of a treated model's weights), the engine's
// identity (name, runtime version, threads, head chunking), the window and stride, a SHA-256 of the
// token ids and of the text, the BOS id and the tokenizer; a KL entry also names the reference model
// and its engine. The file holds the whole key, compared in full on every read: a changed setting is
// a miss, never a wrong hit. Two kinds of entries:
//   scores  — Σ NLL (float64, summed in window order exactly as scoreTokens and compareOnText sum it),
//             scored tokens, top-1 per scored position (int32) and, when kept, every window's head
//             input (float32 [T, H] per window, the engine's `hidden`), so that KL against this model
//             needs only its head;
//   kl      — KL(p_ref ‖ p_model) at every scored position (float64).
// Values are stored bit for bit (float64 sums as JSON numbers, which round-trip exactly; arrays as raw
// little-endian bytes), so results from the cache are identical to results computed afresh.
//
// Files: <dir>/<2 hex>/<sha256 of the key>.<kind>, each written to a temporary name and renamed into
// place (atomic on POSIX filesystems, so concurrent writers of the same entry are safe and a killed
// process leaves at most a temporary file); every section carries a SHA-256 and the file its length,
// so a torn or zero-filled file (a crash on a filesystem that renames before it writes) is a miss.
// Hidden states are the bulk (T × H × 4 bytes per window, about 1 MB per 300-token unit of a 768-wide
// model); they are kept while the folder holds less than `maxBytes` (default 4 GiB), entries after
// that are written without them (KL then reruns the reference model's body).
// Reference: DVC's run cache (key = hash of everything that decides the output; write-then-rename).

import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { VERSION } from '../version.ts';
import type { Engine } from '../engine/types.ts';
import { textTotals, type TextTotals } from './metrics.ts';
import { scoreWindows } from './score.ts';
import { resolveWindowOptions, slidingWindows, type WindowOptions } from './windows.ts';

/** Bumped whenever the file layout or the meaning of a field changes (older entries become misses). */
// 2: KL computed by the treated engine (onnxruntime: float32 terms, float64 sums).
export const SCORE_CACHE_FORMAT = 2;
/** Default bound on the folder's size beyond which hidden states are no longer stored. */
export const DEFAULT_HIDDEN_BUDGET_BYTES = 4 * 1024 ** 3;

const MAGIC = 0x3153514c; // "LQS1" read as little-endian uint32
const PREFIX_BYTES = 16; // magic, header length, 8 reserved bytes

/** What, besides the model and the engine, identifies a scored unit. */
export interface UnitIdentity {
  /** Token ids as scored (BOS included when one is prepended). */
  readonly ids: ArrayLike<number>;
  /** The text (bytes and characters come from it). */
  readonly text: string;
  /** Identity of the tokenizer that made the ids (e.g. the model folder's content hash). */
  readonly tokenizer: string;
  /** The BOS id put before the text, or null. */
  readonly bos: number | null;
}

/** A unit's key, before hashing: every field that decides the numbers of an entry. */
export interface UnitKey {
  readonly model: string;
  readonly engine: string;
  readonly context: number;
  readonly stride: number;
  /** SHA-256 of the ids as little-endian int32 and of the UTF-8 text. */
  readonly ids: string;
  readonly text: string;
  readonly tokenizer: string;
  readonly bos: number | null;
}

/** The identity of an engine's numbers (its `identity`, else its name). */
export function engineIdentity(e: Pick<Engine, 'name' | 'identity'>): string {
  return e.identity ?? e.name;
}

/** The key of `u` scored by `model` on `engine` through windows `win`. */
export function unitKey(
  model: string,
  engine: Pick<Engine, 'name' | 'identity'>,
  win: WindowOptions,
  u: UnitIdentity,
): UnitKey {
  const { context, stride } = resolveWindowOptions(win);
  const ids = Int32Array.from(u.ids);
  return {
    model,
    engine: engineIdentity(engine),
    context,
    stride,
    ids: createHash('sha256')
      .update(new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength))
      .digest('hex'),
    text: createHash('sha256').update(u.text, 'utf8').digest('hex'),
    tokenizer: u.tokenizer,
    bos: u.bos,
  };
}

/** Scores of one unit by one model. */
export interface UnitScores {
  /** Σ NLL of the scored tokens, nats, summed window by window in order. */
  readonly nllSum: number;
  /** Scored tokens (ids − 1). */
  readonly count: number;
  /** Top-1 prediction at each scored position. [count] */
  readonly top1: Int32Array;
  /** Head input of every window (one [T_w, H] array per window), when kept. */
  readonly hidden?: readonly Float32Array[];
}

/** Counters of one cache object (one replicate of one experiment). */
export interface ScoreCacheStats {
  hits: number;
  misses: number;
  /** Entries written. */
  writes: number;
  /** Full-precision passes replaced by the head alone on cached hidden states (windows). */
  headOnly: number;
  /** Entries written without their hidden states because the folder reached its size bound. */
  withoutHidden: number;
}

type Kind = 'scores' | 'kl';
type ArrayType = 'i32' | 'f64' | 'f32';

interface Section {
  name: string;
  type: ArrayType;
  /** Byte offset from the start of the data (after the header, 8-byte aligned). */
  offset: number;
  /** Length in elements. */
  length: number;
  sha: string;
}

interface Header {
  key: string;
  nllSum?: number;
  count?: number;
  /** Rows of each hidden window and the width H. */
  windows?: number[];
  width?: number;
  sections: Section[];
  /** The file's total length. */
  bytes: number;
}

const ELEMENT_BYTES: Record<ArrayType, number> = { i32: 4, f64: 8, f32: 4 };

function digest(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 32);
}

function bytesOf(a: Int32Array | Float64Array | Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** The key as one canonical string (fields in a fixed order, the format and tool version first). */
function keyString(kind: Kind, key: UnitKey, reference?: { model: string; engine: string }): string {
  return JSON.stringify([
    SCORE_CACHE_FORMAT,
    VERSION,
    kind,
    key.model,
    key.engine,
    key.context,
    key.stride,
    key.ids,
    key.text,
    key.tokenizer,
    key.bos,
    reference?.model ?? null,
    reference?.engine ?? null,
  ]);
}

/** The cache over one folder (created on first write). Safe to use from several processes at once. */
export class ScoreCache {
  readonly stats: ScoreCacheStats = { hits: 0, misses: 0, writes: 0, headOnly: 0, withoutHidden: 0 };
  private usedBytes: number | undefined;

  /** @param maxBytes bound on the folder's size for storing hidden states (entries without them always go in). */
  constructor(
    readonly dir: string,
    readonly maxBytes = DEFAULT_HIDDEN_BUDGET_BYTES,
  ) {}

  /** The scores of a unit, or undefined (a miss). With `hidden`, the hidden states too, when stored. */
  getScores(key: UnitKey, o: { hidden?: boolean } = {}): UnitScores | undefined {
    const r = this.read('scores', keyString('scores', key), o.hidden ? ['top1', 'hidden'] : ['top1']);
    if (!r || r.header.nllSum === undefined || r.header.count === undefined) return this.miss();
    const top1 = r.arrays.get('top1') as Int32Array | undefined;
    if (!top1 || top1.length !== r.header.count) return this.miss();
    let hidden: Float32Array[] | undefined;
    const flat = r.arrays.get('hidden') as Float32Array | undefined;
    if (flat && r.header.windows && r.header.width) {
      hidden = [];
      let off = 0;
      for (const rows of r.header.windows) {
        hidden.push(flat.subarray(off, off + rows * r.header.width));
        off += rows * r.header.width;
      }
    }
    this.stats.hits++;
    return { nllSum: r.header.nllSum, count: r.header.count, top1, hidden };
  }

  /** KL(p_ref ‖ p_model) at every scored position of a unit, or undefined (a miss). */
  getKl(key: UnitKey, reference: { model: string; engine: string }): Float64Array | undefined {
    const r = this.read('kl', keyString('kl', key, reference), ['kl']);
    const kl = r?.arrays.get('kl') as Float64Array | undefined;
    if (!kl) return this.miss();
    this.stats.hits++;
    return kl;
  }

  /** Whether an entry with hidden states of `n` bytes fits the size bound now. */
  private fits(n: number): boolean {
    this.usedBytes ??= folderBytes(this.dir);
    return this.usedBytes + n <= this.maxBytes;
  }

  putScores(key: UnitKey, s: UnitScores): void {
    const sections: [string, Int32Array | Float64Array | Float32Array][] = [['top1', s.top1]];
    const header: Omit<Header, 'sections' | 'bytes'> = {
      key: keyString('scores', key),
      nllSum: s.nllSum,
      count: s.count,
    };
    if (s.hidden && s.hidden.length > 0) {
      const rows = slidingWindows(s.count + 1, key).map((w) => w.end - w.start);
      const width = s.hidden[0].length / rows[0];
      if (
        rows.length !== s.hidden.length ||
        !Number.isInteger(width) ||
        s.hidden.some((h, w) => h.length !== rows[w] * width)
      ) {
        throw new Error(`score cache: hidden states of ${s.hidden.length} window(s) do not match the unit's windows`);
      }
      const total = s.hidden.reduce((a, h) => a + h.length, 0);
      if (this.fits(total * 4)) {
        const flat = new Float32Array(total);
        let off = 0;
        for (const h of s.hidden) {
          flat.set(h, off);
          off += h.length;
        }
        sections.push(['hidden', flat]);
        Object.assign(header, { windows: rows, width });
      } else this.stats.withoutHidden++;
    }
    this.write('scores', header, sections);
  }

  putKl(key: UnitKey, reference: { model: string; engine: string }, kl: Float64Array): void {
    this.write('kl', { key: keyString('kl', key, reference) }, [['kl', kl]]);
  }

  private miss(): undefined {
    this.stats.misses++;
    return undefined;
  }

  private fileOf(kind: Kind, key: string): string {
    const h = createHash('sha256').update(key).digest('hex');
    return join(this.dir, h.slice(0, 2), `${h}.${kind}`);
  }

  /** Reads an entry's header and the named sections; undefined when absent, torn, or another key. */
  private read(
    kind: Kind,
    key: string,
    want: readonly string[],
  ): { header: Header; arrays: Map<string, Int32Array | Float64Array | Float32Array> } | undefined {
    let fd: number;
    try {
      fd = openSync(this.fileOf(kind, key), 'r');
    } catch {
      return undefined;
    }
    try {
      const size = fstatSync(fd).size;
      if (size < PREFIX_BYTES) return undefined;
      const prefix = Buffer.alloc(PREFIX_BYTES);
      readSync(fd, prefix, 0, PREFIX_BYTES, 0);
      if (prefix.readUInt32LE(0) !== MAGIC) return undefined;
      const hlen = prefix.readUInt32LE(4);
      if (PREFIX_BYTES + hlen > size) return undefined;
      const hbuf = Buffer.alloc(hlen);
      readSync(fd, hbuf, 0, hlen, PREFIX_BYTES);
      let header: Header;
      try {
        header = JSON.parse(hbuf.toString('utf8')) as Header;
      } catch {
        return undefined;
      }
      if (header.key !== key || header.bytes !== size || !Array.isArray(header.sections)) return undefined;
      const start = dataStart(hlen);
      const arrays = new Map<string, Int32Array | Float64Array | Float32Array>();
      for (const s of header.sections) {
        if (!want.includes(s.name)) continue;
        const n = s.length * ELEMENT_BYTES[s.type];
        if (!(n >= 0) || start + s.offset + n > size) return undefined;
        const a =
          s.type === 'i32'
            ? new Int32Array(s.length)
            : s.type === 'f64'
              ? new Float64Array(s.length)
              : new Float32Array(s.length);
        const view = bytesOf(a);
        if (n > 0 && readSync(fd, view, 0, n, start + s.offset) !== n) return undefined;
        if (digest(view) !== s.sha) return undefined; // torn or zero-filled by a crash
        arrays.set(s.name, a);
      }
      return { header, arrays };
    } finally {
      closeSync(fd);
    }
  }

  /** Writes an entry to a temporary file beside its place and renames it there. */
  private write(
    kind: Kind,
    header: Omit<Header, 'sections' | 'bytes'>,
    parts: [string, Int32Array | Float64Array | Float32Array][],
  ): void {
    const sections: Section[] = [];
    let off = 0;
    for (const [name, a] of parts) {
      const type: ArrayType = a instanceof Int32Array ? 'i32' : a instanceof Float64Array ? 'f64' : 'f32';
      sections.push({ name, type, offset: off, length: a.length, sha: digest(bytesOf(a)) });
      off = align8(off + a.byteLength);
    }
    // The header states the file's length, which depends on the header's own length: try until stable.
    let hjson = '';
    let total = 0;
    for (let guess = 0; ;) {
      hjson = JSON.stringify({ ...header, sections, bytes: guess });
      const t = dataStart(Buffer.byteLength(hjson)) + off;
      if (t === guess) break;
      guess = t;
      total = t;
    }
    const hbuf = Buffer.from(hjson, 'utf8');
    const buf = Buffer.alloc(total);
    buf.writeUInt32LE(MAGIC, 0);
    buf.writeUInt32LE(hbuf.length, 4);
    hbuf.copy(buf, PREFIX_BYTES);
    const start = dataStart(hbuf.length);
    for (const [i, [, a]] of parts.entries()) buf.set(bytesOf(a), start + sections[i].offset);
    const file = this.fileOf(kind, header.key);
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    mkdirSync(join(file, '..'), { recursive: true });
    try {
      writeFileSync(tmp, buf);
      renameSync(tmp, file);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
    this.stats.writes++;
    if (this.usedBytes !== undefined) this.usedBytes += total;
  }
}

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

function dataStart(headerBytes: number): number {
  return align8(PREFIX_BYTES + headerBytes);
}

/** Bytes of the files below `dir` (0 when it does not exist yet). */
function folderBytes(dir: string): number {
  let n = 0;
  let subs: string[];
  try {
    subs = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const s of subs) {
    const p = join(dir, s);
    let names: string[];
    try {
      names = readdirSync(p);
    } catch {
      continue;
    }
    for (const f of names) {
      try {
        n += statSync(join(p, f)).size;
      } catch {
        // removed meanwhile by another process's rename of a temporary file
      }
    }
  }
  return n;
}

/** A model's identity in the cache, for scoring units with it. */
export interface ModelInCache {
  readonly cache: ScoreCache;
  /** Fingerprint of the model as scored. */
  readonly model: string;
  readonly tokenizer: string;
  readonly bos: number | null;
  /** Keep the hidden states of what is computed (so that a later KL against this model needs its head only). */
  readonly keepHidden?: boolean;
}

/**
 * The totals of one text scored by `engine` (scoreTokens' Σ NLL, in the same order), from the cache
 * when there, else computed and written to it.
 */
export async function scoreTextCached(
  engine: Engine,
  ids: ArrayLike<number>,
  text: string,
  win: WindowOptions & { sequence?: string },
  m: ModelInCache,
): Promise<TextTotals> {
  const key = unitKey(m.model, engine, win, { ids, text, tokenizer: m.tokenizer, bos: m.bos });
  const hit = m.cache.getScores(key);
  if (hit) return textTotals(text, hit.nllSum, hit.count);
  const n = ids.length;
  const top1 = new Int32Array(Math.max(0, n - 1));
  const hidden: Float32Array[] = [];
  let nllSum = 0;
  const keep = m.keepHidden === true && engine.head !== undefined;
  for await (const w of scoreWindows(engine, ids, { ...win, wantHidden: keep })) {
    for (let r = 0; r < w.count; r++) {
      nllSum += w.nll[r];
      top1[w.firstTarget - 1 + r] = w.top1[r];
    }
    if (w.hidden) hidden.push(w.hidden);
  }
  m.cache.putScores(key, { nllSum, count: n - 1, top1, hidden: keep ? hidden : undefined });
  return textTotals(text, nllSum, n - 1);
}
