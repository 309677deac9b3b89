// `langquant quantize --model DIR --out DIR [--bits --group-size --scheme --scope --layers --roles
//   --preserve P --criterion --granularity --budget --layer-shares --scale-from
//   --calibration-text FILE | --calibration-languages LIST | --calibration-ids FILE] [--dtype f16|f32]`
// writes a checkpoint any Hugging Face tool can load (config.json + dequantised weights as safetensors,
// tokenizer files copied) and a `quantization.json` manifest (src/quant/manifest.ts). The folder is
// staged under a temporary name and renamed into place, so an interrupted run leaves no half output.
// Also the quantisation transform of `nll` and `perplexity` (listed in src/cli/transforms.ts) (`--bits N --group-size G
// --scheme S`:
// RTN on every block linear weight, DESIGN.md §2).

import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { z } from 'zod';
import { joinUnits, decodeUtf8, unitsById } from '../../data/corpus.ts';
import { DEFAULT_STUDY_GROUPS } from '../../data/registry.ts';
import { splitUnits, UDHR_UNIT_IDS } from '../../data/splits.ts';
import { udhrCorpus } from '../../data/udhr.ts';
import { ConfigError, DataError } from '../../errors.ts';
import { readIdsFile } from '../../eval/ids.ts';
import { writeModelDir } from '../../model/checkpoint/write.ts';
import { loadModel } from '../../model/load.ts';
import type { Model } from '../../model/model.ts';
import { LINEAR_ROLES, type LinearRole } from '../../model/spec.ts';
import { loadTokenizer } from '../../model/tokenizer.ts';
import type { DType } from '../../tensor/dtype.ts';
import { quantizeModel, type PreservePlan } from '../../quant/apply.ts';
import type { BitAccount } from '../../quant/bits.ts';
import { collectActivationStatsFast, DEFAULT_CALIBRATION_TOKENS } from '../../quant/calibrate.ts';
import { buildManifest, MANIFEST_FILE, type CalibrationInfo } from '../../quant/manifest.ts';
import {
  CRITERIA,
  GRANULARITIES,
  needsCalibration,
  type Budget,
  type Criterion,
  type Granularity,
} from '../../quant/preserve.ts';
import { DEFAULT_QUANT_SPEC, QuantParams } from '../../quant/params.ts';
import { MAX_BITS, MIN_BITS, SCHEMES, type QuantSpec, type Scheme } from '../../quant/rtn.ts';
import { DEFAULT_SCOPE, type OutputMode, type QuantScope } from '../../quant/scope.ts';
import { writeDirAtomic } from '../../util/atomic-dir.ts';
import type { ModelTransform } from '../transforms.ts';
import { checkMethodFlags, methodParams, parseMethod, quantizeCalibratedCli, type MethodFlags } from './method.ts';
import { modelFolder } from '../hub.ts';

export const DEFAULT_BITS = DEFAULT_QUANT_SPEC.bits;
export const DEFAULT_GROUP_SIZE = DEFAULT_QUANT_SPEC.groupSize;
export const DEFAULT_SCHEME: Scheme = DEFAULT_QUANT_SPEC.scheme;

// ---- option parsing: strings from the command line → typed values, ConfigError on anything else ----

/**
 * One flag through its field of the quantisation schema shared with the study (src/quant/params.ts):
 * a whole number is passed as a number, anything else as the string it is (so "4.5" or "four" fail).
 */
function quantFlag<K extends keyof typeof QuantParams>(
  field: K,
  v: string,
  message: string,
): z.output<(typeof QuantParams)[K]> {
  const t = v.trim();
  const r = QuantParams[field].safeParse(/^\d+$/.test(t) ? Number(t) : t);
  if (!r.success) throw new ConfigError(message);
  return r.data as z.output<(typeof QuantParams)[K]>;
}

export function parseBits(v: string): number {
  return quantFlag(
    'bits',
    v,
    `--bits ${v} is not supported: bits must be an integer from ${MIN_BITS} to ${MAX_BITS}, e.g. --bits 4`,
  );
}

export function parseGroupSize(v: string): number | 'channel' {
  return quantFlag(
    'groupSize',
    v,
    `--group-size ${v} is not valid: give a positive whole number of weights (e.g. 128) or "channel" for one group per output channel`,
  );
}

export function parseScheme(v: string): Scheme {
  return quantFlag('scheme', v, `--scheme ${v} is not a scheme; use ${SCHEMES.join(' or ')}`);
}

/** A share as a fraction ("0.05") or a percentage ("5%"), in [0, 1). */
export function parseShare(v: string, flag = '--preserve'): number {
  const t = v.trim();
  const pct = t.endsWith('%');
  const num = pct ? t.slice(0, -1) : t;
  const n = /^\d*\.?\d+(e-?\d+)?$/.test(num) ? Number(num) / (pct ? 100 : 1) : NaN;
  if (!(n >= 0 && n < 1)) {
    throw new ConfigError(
      `${flag} ${v} is not a share in [0, 1): give a fraction such as 0.05 or a percentage such as 5% (keeping 100 % is no quantisation)`,
    );
  }
  return n;
}

/** "0,2,4-6" → [0, 2, 4, 5, 6]. */
export function parseLayers(v: string): number[] {
  const out: number[] = [];
  for (const part of v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m || (m[2] !== undefined && Number(m[2]) < Number(m[1]))) {
      throw new ConfigError(`--layers: "${part}" is not a layer index or range; write e.g. --layers 0,2,4-6`);
    }
    for (let l = Number(m[1]); l <= Number(m[2] ?? m[1]); l++) out.push(l);
  }
  if (out.length === 0) throw new ConfigError('--layers is empty; list block indices, e.g. --layers 0,2,4-6');
  return [...new Set(out)].sort((a, b) => a - b);
}

export function parseRoles(v: string): LinearRole[] {
  const roles = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const r of roles) {
    if (!(LINEAR_ROLES as readonly string[]).includes(r))
      throw new ConfigError(`--roles: "${r}" is not a module role; roles are ${LINEAR_ROLES.join(', ')}`);
  }
  if (roles.length === 0) throw new ConfigError(`--roles is empty; list roles from ${LINEAR_ROLES.join(', ')}`);
  return roles as LinearRole[];
}

/** "blocks,output" → scope. Items: blocks, output (an untied quantised copy), output-tied, embeddings. */
export function parseScope(v: string): Pick<QuantScope, 'blocks' | 'output' | 'embeddings'> {
  const items = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  let output: OutputMode = 'none';
  const known = ['blocks', 'output', 'output-tied', 'embeddings'];
  for (const i of items)
    if (!known.includes(i))
      throw new ConfigError(`--scope: "${i}" is not a scope item; use a comma list of ${known.join(', ')}`);
  if (items.includes('output') && items.includes('output-tied'))
    throw new ConfigError('--scope: give either output (an untied copy) or output-tied (the shared matrix), not both');
  if (items.includes('output')) output = 'untied';
  if (items.includes('output-tied')) output = 'tied';
  if (items.length === 0) throw new ConfigError(`--scope is empty; use a comma list of ${known.join(', ')}`);
  return { blocks: items.includes('blocks'), output, embeddings: items.includes('embeddings') };
}

/** "0=0.1,3=20%,rest=0.02" → a per-layer budget map. */
export function parseLayerShares(v: string): Extract<Budget, { kind: 'map' }> {
  const shares = new Map<number, number>();
  let rest: number | undefined;
  for (const part of v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(\d+|rest)=(.+)$/.exec(part);
    if (!m)
      throw new ConfigError(
        `--layer-shares: "${part}" is not LAYER=SHARE; write e.g. --layer-shares 0=0.1,3=20%,rest=0.02`,
      );
    const share = parseShare(m[2], `--layer-shares ${m[1]}=`);
    if (m[1] === 'rest' ? rest !== undefined : shares.has(Number(m[1]))) {
      throw new ConfigError(`--layer-shares gives ${m[1]} twice; give each layer (and rest) one share`);
    }
    if (m[1] === 'rest') rest = share;
    else shares.set(Number(m[1]), share);
  }
  if (shares.size === 0 && rest === undefined)
    throw new ConfigError('--layer-shares is empty; write e.g. --layer-shares 0=0.1,3=0.2');
  return rest === undefined ? { kind: 'map', shares } : { kind: 'map', shares, rest };
}

export function parseCriterion(v: string): Criterion {
  if (!(CRITERIA as readonly string[]).includes(v))
    throw new ConfigError(`--criterion ${v} is not a preservation criterion; use one of ${CRITERIA.join(', ')}`);
  return v as Criterion;
}

export function parseGranularity(v: string): Granularity {
  if (!(GRANULARITIES as readonly string[]).includes(v))
    throw new ConfigError(
      `--granularity ${v} is not valid; use weight (single weights, sparse) or column (whole input columns, dense)`,
    );
  return v as Granularity;
}

export function parseDtype(v: string): DType {
  const d = v.trim().toUpperCase();
  if (d !== 'F16' && d !== 'F32' && d !== 'BF16')
    throw new ConfigError(`--dtype ${v} is not supported; use f32 (exact dequantised values), f16 or bf16`);
  return d;
}

function parseCount(flag: string, v: string): number {
  if (!/^\s*\d+\s*$/.test(v) || Number(v) < 1) throw new ConfigError(`${flag} ${v} is not a positive whole number`);
  return Number(v);
}

function parseSeed(v: string): number {
  if (!/^\s*\d+\s*$/.test(v)) throw new ConfigError(`--seed ${v} is not a whole number ≥ 0`);
  return Number(v);
}

/** "high", "low", "all" (the default study groups) or a comma list of ISO 639-3 / udhr codes. */
export function resolveCalibrationLanguages(v: string): string[] {
  const out: string[] = [];
  for (const item of v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    if (item === 'high') out.push(...DEFAULT_STUDY_GROUPS.high);
    else if (item === 'low') out.push(...DEFAULT_STUDY_GROUPS.low);
    else if (item === 'all') out.push(...DEFAULT_STUDY_GROUPS.high, ...DEFAULT_STUDY_GROUPS.low);
    else out.push(item);
  }
  if (out.length === 0)
    throw new ConfigError('--calibration-languages is empty; give high, low, all or codes such as eng,swh');
  return [...new Set(out)];
}

// ---- calibration text ----

interface CalibrationFlags {
  calibrationText?: string;
  calibrationLanguages?: string;
  calibrationIds?: string;
  calibrationTokens?: string;
  tokenizer?: string;
  seed?: string;
}

/** Token sequences for calibration from exactly one of the three sources; null when none is given. */
export async function calibrationSequences(
  model: Model,
  f: CalibrationFlags,
): Promise<{ sequences: number[][] | Int32Array[]; info: Omit<CalibrationInfo, 'tokens'> } | null> {
  const given = [
    f.calibrationText && '--calibration-text',
    f.calibrationLanguages && '--calibration-languages',
    f.calibrationIds && '--calibration-ids',
  ].filter(Boolean);
  if (given.length === 0) return null;
  if (given.length > 1) throw new ConfigError(`give one calibration source, not ${given.join(' and ')}`);
  if (f.calibrationIds) {
    const c = model.config;
    return {
      sequences: readIdsFile(f.calibrationIds, { vocabSize: c.vocabSize, maxPositions: null }),
      info: { source: 'ids', file: f.calibrationIds },
    };
  }
  const file = f.calibrationText;
  if (file && (!existsSync(file) || !statSync(file).isFile()))
    throw new DataError(`calibration text ${file} does not exist; pass a UTF-8 text file`);
  const tok = await loadTokenizer(f.tokenizer ?? model.dir);
  const encode = (text: string) => {
    const ids = tok.encode(text);
    for (const id of ids) {
      if (id >= model.config.vocabSize)
        throw new DataError(
          `the tokenizer gives id ${id}, outside this model's vocabulary of ${model.config.vocabSize}; use the model's own tokenizer`,
        );
    }
    return ids;
  };
  if (file) {
    const text = decodeUtf8(readFileSync(file), file);
    if (text.trim() === '') throw new DataError(`calibration text ${file} is empty; pass a file with some text`);
    return { sequences: [encode(text)], info: { source: 'text', file } };
  }
  const languages = resolveCalibrationLanguages(f.calibrationLanguages!);
  const seed = parseSeed(f.seed ?? '0');
  const corpus = udhrCorpus({ languages });
  const calib = splitUnits(UDHR_UNIT_IDS, { seed }).calibration;
  const sequences: number[][] = [];
  for (const lang of languages) {
    const have = new Set(corpus.units(lang).map((u) => u.id));
    sequences.push(
      encode(
        joinUnits(
          unitsById(
            corpus,
            lang,
            calib.filter((id) => have.has(id)),
          ),
        ),
      ),
    );
  }
  return { sequences, info: { source: 'languages', languages, seed } };
}

// ---- the nll / perplexity transform ----

interface QuantFlags extends MethodFlags {
  bits?: string;
  groupSize?: string;
  scheme?: string;
}

/** `--bits N [--group-size G --scheme S]` on nll and perplexity: RTN of every block linear weight. */
export const quantizeTransform: ModelTransform = {
  addOptions(cmd) {
    return cmd
      .option(
        '--bits <n>',
        `quantise every block linear weight (round-to-nearest) to ${MIN_BITS}–${MAX_BITS} bits before scoring`,
      )
      .option(
        '--group-size <g>',
        `with --bits: weights per group along the input dimension, or "channel" (default ${DEFAULT_GROUP_SIZE})`,
      )
      .option('--scheme <s>', `with --bits: sym or asym (default ${DEFAULT_SCHEME})`)
      .option(
        '--method <m>',
        'with --bits: rtn (default), gptq or awq (these two need --calibration-languages, --calibration-text or --calibration-ids)',
      )
      .option('--act-order', 'with --method gptq: columns by descending Hessian diagonal (static groups)')
      .option('--awq-clip', "with --method awq: also search each group's range shrink")
      .option('--calibration-text <file>', 'with --method gptq|awq: calibration text (UTF-8)')
      .option(
        '--calibration-languages <list>',
        'with --method gptq|awq: the UDHR calibration split of these languages: high, low, all or codes',
      )
      .option('--calibration-ids <file>', 'with --method gptq|awq: calibration token ids (JSON array of id arrays)')
      .option(
        '--calibration-tokens <n>',
        `with --method gptq|awq: most calibration tokens (default ${DEFAULT_CALIBRATION_TOKENS})`,
      );
  },
  async apply(model, opts) {
    const f = opts as QuantFlags & CalibrationFlags;
    if (f.bits === undefined) {
      if (f.groupSize !== undefined || f.scheme !== undefined)
        throw new ConfigError('--group-size and --scheme need --bits; add e.g. --bits 4');
      if (f.method !== undefined) throw new ConfigError('--method needs --bits; add e.g. --bits 4');
      return model;
    }
    const spec: QuantSpec = {
      bits: parseBits(f.bits),
      groupSize: f.groupSize === undefined ? DEFAULT_GROUP_SIZE : parseGroupSize(f.groupSize),
      scheme: f.scheme === undefined ? DEFAULT_SCHEME : parseScheme(f.scheme),
    };
    const method = parseMethod(f.method ?? 'rtn');
    checkMethodFlags(method, f);
    if (method !== 'rtn') {
      // the calibration split's seed is not perplexity's bootstrap seed: always 0 here
      const c = await calibrationSequences(model, { ...f, seed: undefined, tokenizer: undefined });
      if (!c)
        throw new ConfigError(
          `--method ${method} learns from calibration text; give --calibration-languages LIST, --calibration-text FILE or --calibration-ids FILE`,
        );
      const maxTokens = parseCount('--calibration-tokens', f.calibrationTokens ?? String(DEFAULT_CALIBRATION_TOKENS));
      const r = await quantizeCalibratedCli(model, method, spec, c.sequences, { ...f, maxTokens });
      process.stderr.write(
        `langquant: ${describeCost(spec, r.account, r.tensors.length, method)}; calibrated on ${r.calibrationTokens} tokens\n`,
      );
      return r.model;
    }
    const r = quantizeModel(model, { spec });
    // The cost goes next to the result: stderr, so that nll's JSON on stdout stays the contract.
    process.stderr.write(`langquant: ${describeCost(spec, r.account, r.tensors.length)}\n`);
    return r.model;
  },
};

/** One line: what was quantised and what it costs (effective bits per weight, model size). */
export function describeCost(spec: QuantSpec, a: BitAccount, tensors: number, method = 'rtn'): string {
  return (
    `quantised ${tensors} block linear weights (${method.toUpperCase()} ${spec.bits}-bit ${spec.scheme}, group ${spec.groupSize}): ` +
    `${a.bitsPerWeight.toFixed(3)} bits/weight over ${a.weights.toLocaleString('en-US')} weights counting 16-bit scales${spec.scheme === 'asym' ? ' and zero points' : ''}; ` +
    `model ${fmtBytes(a.modelBytes)} vs ${fmtBytes(a.baselineBytes)} at ${a.otherBits} bits`
  );
}

// ---- writing the output folder ----

/**
 * Refuses an --out that is the model folder, a file, or a non-empty folder without --force; returns whether it exists.
 */
function checkOutputDir(out: string, modelDir: string, force: boolean): boolean {
  const target = resolve(out);
  if (target === resolve(modelDir))
    throw new ConfigError(`--out ${out} is the model folder itself; choose another folder`);
  const exists = existsSync(target);
  if (exists && !statSync(target).isDirectory())
    throw new ConfigError(`--out ${out} exists and is not a folder; choose another path`);
  if (exists && readdirSync(target).length > 0 && !force) {
    throw new ConfigError(
      `--out ${out} already exists and is not empty; choose another folder or pass --force to replace it`,
    );
  }
  return exists;
}

/** Writes the output folder atomically (src/util/atomic-dir.ts), after checking --out again. */
function writeOutputDir(out: string, model: Model, force: boolean, write: (dir: string) => void): void {
  checkOutputDir(out, model.dir, force);
  writeDirAtomic(out, write);
}

interface QuantizeCliOptions extends QuantFlags, CalibrationFlags {
  method: string;
  model: string;
  out: string;
  scope: string;
  layers?: string;
  roles?: string;
  preserve?: string;
  criterion: string;
  granularity: string;
  budget: string;
  layerShares?: string;
  scaleFrom: string;
  dtype: string;
  force?: boolean;
  json?: boolean;
}

function fmtBytes(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`;
}

export function registerQuantize(program: Command): void {
  program
    .command('quantize')
    .description(
      'quantise a model (round-to-nearest, optional full-precision preservation) and write a loadable checkpoint + quantization.json',
    )
    .requiredOption('--model <dir|id>', 'Hugging Face model folder or id org/name[@revision] (config.json + weights)')
    .requiredOption('--out <dir>', 'folder to write (config.json, model.safetensors, quantization.json)')
    .option('--bits <n>', `bits per weight, ${MIN_BITS}–${MAX_BITS}`, String(DEFAULT_BITS))
    .option('--group-size <g>', 'weights per group along the input dimension, or "channel"', String(DEFAULT_GROUP_SIZE))
    .option('--scheme <s>', 'sym or asym', DEFAULT_SCHEME)
    .option(
      '--method <m>',
      'rtn (round-to-nearest), gptq or awq (both learn from calibration text: --calibration-languages, --calibration-text or --calibration-ids)',
      'rtn',
    )
    .option('--act-order', 'with --method gptq: columns by descending Hessian diagonal (static groups)')
    .option('--awq-clip', "with --method awq: also search each group's range shrink")
    .option(
      '--scope <list>',
      'what to quantise: comma list of blocks, output (untied copy), output-tied, embeddings',
      'blocks',
    )
    .option('--layers <list>', 'only these blocks, e.g. 0,2,4-6 (block linears)')
    .option('--roles <list>', `only these block linears: ${LINEAR_ROLES.join(', ')}`)
    .option('--preserve <share>', 'keep this share of the quantised weights in full precision, e.g. 0.05 or 5%')
    .option('--criterion <c>', `which weights to keep: ${CRITERIA.join(', ')}`, 'magnitude')
    .option(
      '--granularity <g>',
      'keep single weights (weight, sparse) or whole input columns (column, dense)',
      'weight',
    )
    .option('--budget <b>', 'rank kept weights over the whole scope (global) or within each layer (layer)', 'global')
    .option('--layer-shares <map>', 'explicit share per layer instead of --preserve, e.g. 0=0.1,3=20%,rest=0.02')
    .option(
      '--scale-from <s>',
      'group ranges from the weights left after preservation (remaining) or from all weights (all)',
      'remaining',
    )
    .option('--calibration-text <file>', 'UTF-8 text whose activations rank weights (activation, hessian)')
    .option(
      '--calibration-languages <list>',
      'calibrate on the UDHR calibration split of these languages: high, low, all or codes (eng,swh,…)',
    )
    .option('--calibration-ids <file>', 'calibrate on token ids (JSON array of id arrays)')
    .option('--calibration-tokens <n>', 'most calibration tokens to use', String(DEFAULT_CALIBRATION_TOKENS))
    .option('--tokenizer <file>', "tokenizer.json for the calibration text (default: the model folder's)")
    .option('--seed <n>', 'seed of the calibration/evaluation split (with --calibration-languages)', '0')
    .option('--dtype <d>', 'dtype of the written weights: f32 (exact dequantised values), f16 or bf16', 'f32')
    .option('--force', 'replace --out if it exists')
    .option('--json', 'print the manifest as JSON instead of a summary')
    .action(async (opts: QuantizeCliOptions, cmd: Command) => {
      // Validate every flag before loading anything, so a typo fails fast.
      const spec: QuantSpec = {
        bits: parseBits(opts.bits!),
        groupSize: parseGroupSize(opts.groupSize!),
        scheme: parseScheme(opts.scheme!),
      };
      const scope: QuantScope = {
        ...DEFAULT_SCOPE,
        ...parseScope(opts.scope),
        layers: opts.layers ? parseLayers(opts.layers) : null,
        roles: opts.roles ? parseRoles(opts.roles) : null,
      };
      const criterion = parseCriterion(opts.criterion);
      const granularity = parseGranularity(opts.granularity);
      if (opts.budget !== 'global' && opts.budget !== 'layer')
        throw new ConfigError(
          `--budget ${opts.budget} is not valid; use global or layer (or --layer-shares for a per-layer map)`,
        );
      if (opts.scaleFrom !== 'remaining' && opts.scaleFrom !== 'all')
        throw new ConfigError(`--scale-from ${opts.scaleFrom} is not valid; use remaining or all`);
      if (opts.preserve !== undefined && opts.layerShares !== undefined)
        throw new ConfigError('give --preserve (one share) or --layer-shares (a share per layer), not both');
      const dtype = parseDtype(opts.dtype);
      const calibrationTokens = parseCount(
        '--calibration-tokens',
        opts.calibrationTokens ?? String(DEFAULT_CALIBRATION_TOKENS),
      );
      let budget: Budget | null = null;
      if (opts.layerShares !== undefined) budget = parseLayerShares(opts.layerShares);
      else if (opts.preserve !== undefined)
        budget = { kind: opts.budget as 'global' | 'layer', share: parseShare(opts.preserve) };
      const hasCalibration = Boolean(opts.calibrationText || opts.calibrationLanguages || opts.calibrationIds);
      const method = parseMethod(opts.method);
      checkMethodFlags(method, opts);
      if (method !== 'rtn') {
        if (budget)
          throw new ConfigError(
            `--method ${method} with preservation is not supported; drop --preserve/--layer-shares or use --method rtn`,
          );
        if (!hasCalibration)
          throw new ConfigError(
            `--method ${method} learns from calibration text; give --calibration-languages LIST, --calibration-text FILE or --calibration-ids FILE`,
          );
      }
      if (!budget && method === 'rtn') {
        // Preservation flags without a share would be silently ignored: say so instead.
        const flags: [string, string][] = [
          ['criterion', '--criterion'],
          ['granularity', '--granularity'],
          ['budget', '--budget'],
          ['scaleFrom', '--scale-from'],
          ['calibrationText', '--calibration-text'],
          ['calibrationLanguages', '--calibration-languages'],
          ['calibrationIds', '--calibration-ids'],
          ['calibrationTokens', '--calibration-tokens'],
        ];
        const given = flags.filter(([k]) => cmd.getOptionValueSource(k) === 'cli').map(([, f]) => f);
        if (given.length)
          throw new ConfigError(
            `${given.join(', ')} only ${given.length === 1 ? 'applies' : 'apply'} to preservation; add --preserve P (e.g. --preserve 5%) or --layer-shares MAP, or leave ${given.length === 1 ? 'it' : 'them'} out`,
          );
      }
      opts.model = await modelFolder(opts.model);
      checkOutputDir(opts.out, opts.model, Boolean(opts.force));
      if (budget && needsCalibration(criterion) && !hasCalibration) {
        throw new ConfigError(
          `--criterion ${criterion} ranks weights by calibration activations; give --calibration-text FILE, --calibration-languages LIST or --calibration-ids FILE, or use --criterion magnitude`,
        );
      }

      const model = loadModel(opts.model);
      let calibration: CalibrationInfo | null = null;
      let preserve: PreservePlan | null = null;
      if (budget) {
        let stats = null;
        if (needsCalibration(criterion)) {
          const c = await calibrationSequences(model, opts);
          stats = await collectActivationStatsFast(model, c!.sequences, { maxTokens: calibrationTokens });
          calibration = { ...c!.info, tokens: stats.tokens };
        } else if (hasCalibration) {
          process.stderr.write(`langquant: --criterion ${criterion} does not use calibration text; ignoring it\n`);
        }
        preserve = { criterion, granularity, budget, stats, scaleFrom: opts.scaleFrom as 'remaining' | 'all' };
      }
      let calibrated: Parameters<typeof buildManifest>[0]['calibrated'];
      let result;
      if (method !== 'rtn') {
        const c = await calibrationSequences(model, opts);
        const r = await quantizeCalibratedCli(model, method, spec, c!.sequences, {
          ...opts,
          maxTokens: calibrationTokens,
          scope,
          log: (s) => process.stderr.write(`langquant: ${s}\n`),
        });
        calibration = { ...c!.info, tokens: r.calibrationTokens };
        calibrated = { method, params: methodParams(method, opts), layers: r.calibration };
        result = r;
      } else result = quantizeModel(model, { spec, scope, preserve });
      const manifest = buildManifest({
        sourceModel: resolve(opts.model),
        spec,
        scope,
        preserve,
        calibration,
        dtype,
        result,
        calibrated,
      });
      writeOutputDir(opts.out, model, Boolean(opts.force), (dir) => {
        writeModelDir(dir, result.model, {
          dtype,
          metadata: {
            quantization: `${manifest.method} ${spec.bits}-bit ${spec.scheme} group ${spec.groupSize}`,
            langquant: manifest.version,
          },
        });
        writeFileSync(join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
      });
      if (opts.json) {
        process.stdout.write(JSON.stringify(manifest, null, 2) + '\n');
        return;
      }
      const a = result.account;
      const worst = result.tensors.reduce(
        (m, t) => (t.error.relFrobenius > m.error.relFrobenius ? t : m),
        result.tensors[0],
      );
      const lines = [
        `wrote        ${opts.out} (config.json, model.safetensors ${dtype}, ${MANIFEST_FILE})`,
        `method       ${manifest.method}: ${spec.bits}-bit ${spec.scheme}, group ${spec.groupSize}, ${manifest.scope.description}`,
        `preserved    ${preserve ? `${a.kept.toLocaleString('en-US')} weights (${((100 * a.kept) / Math.max(1, a.weights)).toFixed(2)} %), ${criterion}, ${granularity}, ${budget!.kind}` : 'none'}`,
        `bits/weight  ${a.bitsPerWeight.toFixed(3)} over ${a.weights.toLocaleString('en-US')} quantised weights (levels, 16-bit scales/zeros, kept values and indices)`,
        `model size   ${fmtBytes(a.modelBytes)} vs ${fmtBytes(a.baselineBytes)} at ${a.otherBits} bits`,
        `tensors      ${result.tensors.length}; worst relative Frobenius error ${worst ? `${worst.error.relFrobenius.toExponential(3)} (${worst.name})` : '-'}`,
      ];
      process.stdout.write(lines.join('\n') + '\n');
    });
}
