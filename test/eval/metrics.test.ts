import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  bitsPerByte,
  bitsPerChar,
  codePoints,
  measures,
  quantileSorted,
  sumTotals,
  textTotals,
  tokenPerplexity,
  utf8Bytes,
  variance,
} from '../../src/eval/metrics.ts';

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

test('bytes are UTF-8 bytes and chars are code points', () => {
  assert.equal(utf8Bytes('abc'), 3);
  assert.equal(utf8Bytes('é'), 2);
  assert.equal(utf8Bytes('日本'), 6);
  assert.equal(utf8Bytes('𝄞'), 4);
  assert.equal(codePoints('𝄞a'), 2); // a surrogate pair is one character
  assert.equal(codePoints('日本'), 2);
  assert.equal(codePoints(''), 0);
});

test('hand-computed perplexity, bits per byte and bits per character', () => {
  // "héllo" = 6 bytes, 5 chars; scored NLLs 1, 2, 3, 2 (4 tokens, sum 8 nats).
  const t = textTotals('héllo', [1, 2, 3, 2]);
  assert.deepEqual(t, { nllNats: 8, tokens: 4, bytes: 6, chars: 5 });
  close(tokenPerplexity(t), Math.exp(2));
  close(bitsPerByte(t), 8 / (6 * Math.LN2));
  close(bitsPerChar(t), 8 / (5 * Math.LN2));
  const m = measures(t);
  close(m.meanNll, 2);
  // uniform over 256 byte values, one token per byte: BPB = 8 exactly
  const u = textTotals('abcd', 4 * Math.log(256), 4);
  close(bitsPerByte(u), 8);
});

test('totals of several texts add up before the ratios are taken', () => {
  const s = sumTotals([textTotals('ab', 2, 1), textTotals('cdef', 6, 3)]);
  assert.deepEqual(s, { nllNats: 8, tokens: 4, bytes: 6, chars: 6 });
  close(tokenPerplexity(s), Math.exp(2)); // not the mean of the two perplexities
  assert.ok(Number.isNaN(tokenPerplexity(sumTotals([]))));
});

test('quantiles interpolate between ranks (type 7) and variance divides by n', () => {
  const xs = [1, 2, 3, 4];
  close(quantileSorted(xs, 0.5), 2.5);
  close(quantileSorted(xs, 0), 1);
  close(quantileSorted(xs, 1), 4);
  close(quantileSorted(xs, 0.9), 3.7);
  assert.ok(Number.isNaN(quantileSorted([], 0.5)));
  close(variance([1, 2, 3, 4]), 1.25);
});
