// Seeded fuzz of the loaders and of scoring: 24 damaged copies of the golden gpt2-a model.safetensors
// and 24 of the torch.save fixture test/fixtures/torch-save/gpt2-a/pytorch_model.bin (a copy of
// ../shared/golden/models/gpt2-a-torch-bin: gpt2-a's weights as torch.save writes them, with the
// stale attn.bias / attn.masked_bias buffers) (random bytes over the end as
// an interrupted copy leaves them, truncations, flipped bytes in the header/pickle/zip directory,
// zeroed runs, random bytes anywhere). Each copy either loads and scores finite numbers, or is
// refused with a one-line UserError; nothing else (no other error, no NaN, no multi-line message).
// A few copies go through the real CLI too: exit 0 with numbers only, or non-zero with one line —
// no stack trace, no "internal error", no hang (a 30 s limit per run).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { UserError } from '../../src/errors.ts';
import { referenceEngine } from '../../src/engine/reference.ts';
import { scoreTokens } from '../../src/eval/score.ts';
import { loadModel } from '../../src/model/load.ts';
import { Rng } from '../../src/util/rng.ts';
import { goldenDir, tempDir } from '../helpers/checkpoints.ts';
import { runCli } from '../helpers/cli.ts';

const COPIES = 24;
const CLI_COPIES = 3;
const IDS = [464, 2068, 7586, 21831, 18045, 625, 262, 16931].map((i) => i % 1000);

/** One seeded damage of `bytes` (a copy); returns the damaged copy and what was done. */
function damage(bytes: Buffer, rng: Rng, headerEnd: number): { out: Buffer; what: string } {
  const out = Buffer.from(bytes);
  const n = out.length;
  const kind = rng.int(6);
  const len = 1 + rng.int(4096);
  const randomFill = (at: number, count: number) => {
    for (let i = at; i < Math.min(n, at + count); i++) out[i] = rng.int(256);
  };
  switch (kind) {
    case 0: // random bytes over the end: an interrupted copy, a bad disk
      randomFill(n - len, len);
      return { out, what: `random ${len} bytes over the end` };
    case 1: {
      const keep = rng.int(n);
      return { out: out.subarray(0, keep), what: `truncated to ${keep} bytes` };
    }
    case 2: {
      const flips = 1 + rng.int(8);
      for (let f = 0; f < flips; f++) out[rng.int(headerEnd)] ^= 1 << rng.int(8);
      return { out, what: `${flips} bit flips in the first ${headerEnd} bytes` };
    }
    case 3: {
      const at = rng.int(n);
      out.fill(0, at, at + len);
      return { out, what: `${len} zero bytes at ${at}` };
    }
    case 4: {
      const at = rng.int(n);
      randomFill(at, len);
      return { out, what: `random ${len} bytes at ${at}` };
    }
    default: {
      // the tail end of the file's directory (zip) or the last tensor (safetensors), bit by bit
      const flips = 1 + rng.int(8);
      for (let f = 0; f < flips; f++) out[n - 1 - rng.int(Math.min(n, 512))] ^= 1 << rng.int(8);
      return { out, what: `${flips} bit flips in the last 512 bytes` };
    }
  }
}

const FIXTURES = [
  {
    name: 'gpt2-a',
    dir: goldenDir('gpt2-a'),
    file: 'model.safetensors',
    headerEnd: (b: Buffer) => 8 + Number(b.readBigUInt64LE(0)),
  },
  // the pickle and the zip directory: the zip's central directory is at the end, data.pkl near the start
  {
    name: 'gpt2-a-torch-bin',
    dir: fileURLToPath(new URL('../fixtures/torch-save/gpt2-a', import.meta.url)),
    file: 'pytorch_model.bin',
    headerEnd: () => 4096,
  },
];

for (const f of FIXTURES) {
  test(
    `fuzz: ${COPIES} damaged copies of ${f.name}/${f.file} score finite numbers or are refused in one line`,
    { timeout: 60_000 },
    async (t) => {
      const src = f.dir;
      const bytes = readFileSync(join(src, f.file));
      const rng = new Rng(f.name === 'gpt2-a' ? 1801 : 1802);
      const dir = tempDir(t, 'fuzz');
      copyFileSync(join(src, 'config.json'), join(dir, 'config.json'));
      const tally = { scored: 0, refused: 0 };
      const reasons = new Map<string, number>();
      for (let c = 0; c < COPIES; c++) {
        const { out, what } = damage(bytes, rng, f.headerEnd(bytes));
        writeFileSync(join(dir, f.file), out);
        try {
          const model = loadModel(dir);
          const s = await scoreTokens(referenceEngine(model), IDS, { context: 8, stride: 4 });
          assert.ok(
            Array.from(s.nll).every(Number.isFinite) && Number.isFinite(s.nllSum),
            `copy ${c} (${what}): a non-finite score got through`,
          );
          tally.scored++;
        } catch (e) {
          assert.ok(e instanceof UserError, `copy ${c} (${what}): ${(e as Error)?.stack ?? e}`);
          assert.ok(!e.message.includes('\n'), `copy ${c} (${what}): a multi-line message: ${e.message}`);
          const key = e.message.replace(/\d+/g, 'N').replace(/; .*/, '').slice(0, 90);
          reasons.set(key, (reasons.get(key) ?? 0) + 1);
          tally.refused++;
        }
        // The CLI on the first few copies: the whole process, its exit code and its output.
        if (c < CLI_COPIES) {
          const ids = join(dir, 'ids.json');
          writeFileSync(ids, JSON.stringify([IDS]));
          const r = runCli(['nll', '--model', dir, '--ids', ids, '--engine', 'reference'], { timeoutMs: 30_000 });
          assert.notEqual(r.code, -1, `copy ${c} (${what}): the CLI hung`);
          assert.doesNotMatch(r.stderr, /internal error|at .*\.ts:\d+/, `copy ${c} (${what})`);
          if (r.code === 0) {
            const out = JSON.parse(r.stdout) as { sequences: { nll: unknown[]; meanNll: unknown }[] };
            assert.ok(
              out.sequences.every((s) => s.nll.every((v) => typeof v === 'number') && typeof s.meanNll === 'number'),
              `copy ${c}: ${r.stdout}`,
            );
          } else {
            assert.equal(r.stderr.trim().split('\n').length, 1, `copy ${c} (${what}): ${r.stderr}`);
          }
        }
      }
      t.diagnostic(
        `${f.file}: ${tally.scored} scored, ${tally.refused} refused — ${[...reasons].map(([k, n]) => `${n}× ${k}`).join('; ')}`,
      );
      assert.equal(tally.scored + tally.refused, COPIES);
    },
  );
}
