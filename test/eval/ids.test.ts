import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DataError } from '../../src/errors.ts';
import { parseIds } from '../../src/eval/ids.ts';

const limits = { vocabSize: 1000, maxPositions: 8 };
const bad = (text: string, pattern: RegExp) =>
  assert.throws(
    () => parseIds(text, 'ids.json', limits),
    (e: unknown) => e instanceof DataError && pattern.test(e.message) && e.message.includes('ids.json'),
  );

test('a valid ids file gives one Int32Array per sequence', () => {
  const out = parseIds('[[1, 2, 3], [999, 0]]', 'ids.json', limits);
  assert.deepEqual(
    out.map((a) => Array.from(a)),
    [
      [1, 2, 3],
      [999, 0],
    ],
  );
  assert.ok(out[0] instanceof Int32Array);
  // no position limit: any length
  assert.equal(parseIds(JSON.stringify([Array(50).fill(1)]), 'f', { vocabSize: 2, maxPositions: null })[0].length, 50);
});

test('every malformed ids file is a DataError naming the file, the place and what to do', () => {
  bad('[[1, 2', /is not valid JSON .*array of token-id arrays/);
  bad('', /is not valid JSON/);
  bad('{"ids": [1, 2]}', /holds an object, not an array of token-id arrays; write it as/);
  bad('"1 2 3"', /holds a string/);
  bad('null', /holds null/);
  bad('[]', /holds no sequences/);
  bad('[1, 2, 3]', /sequence 0 is a number, not an array of token ids/);
  bad('[[1, 2], {"a": 1}]', /sequence 1 is an object/);
  bad('[[1, 2], []]', /sequence 1 has no tokens; each sequence needs at least 2/);
  bad('[[7]]', /sequence 0 has 1 token/);
  bad('[[1, -1]]', /position 1: token id -1 is outside the model's vocabulary \(0…999\)/);
  bad('[[1, 1000]]', /token id 1000 is outside/);
  bad('[[1, 2.5]]', /position 1 is 2.5, not a whole-number token id/);
  bad('[[1, "2"]]', /position 1 is "2"/);
  bad('[[1, null]]', /position 1 is null/);
  bad('[[1, true]]', /position 1 is true/);
  bad(
    JSON.stringify([Array(9).fill(1)]),
    /sequence 0 has 9 tokens but the model accepts at most 8 positions; split it/,
  );
});
