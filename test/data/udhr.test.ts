// The built-in UDHR corpus: parsing, alignment, entry defaults and errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alignedUnitIds, joinUnits, textStats } from '../../src/data/corpus.ts';
import { parseUdhrHtml, resolveUdhrEntry, udhrCorpus, udhrEntries, udhrEntriesFor } from '../../src/data/udhr.ts';
import { DataError } from '../../src/errors.ts';

test('English declaration: preamble + 30 articles, visible text only, NFC', () => {
  const c = udhrCorpus({ languages: ['eng'] });
  const units = c.units('eng');
  assert.equal(units.length, 31);
  assert.equal(units[0].id, 'preamble');
  assert.equal(units[30].id, 'article-30');
  const a1 = units.find((u) => u.id === 'article-1')!;
  assert.equal(
    a1.text,
    'All human beings are born free and equal in dignity and rights. They are endowed with reason and conscience and should act towards one another in a spirit of brotherhood.',
  );
  // Article 11 has two numbered paragraphs (ol/li), kept as two lines.
  assert.equal(units.find((u) => u.id === 'article-11')!.text.split('\n').length, 2);
  for (const u of units) {
    assert.doesNotMatch(u.text, /[<>]/, `${u.id} has markup`);
    assert.equal(u.text, u.text.normalize('NFC'));
    assert.doesNotMatch(u.text, /^Article \d/, 'headings are left out by default');
  }
  assert.equal(c.iso6393('eng'), 'eng');
});

test('headings can be kept', () => {
  const units = udhrCorpus({ languages: ['eng'], includeHeadings: true }).units('eng');
  assert.match(units.find((u) => u.id === 'article-12')!.text, /^Article 12\n/);
});

test('articles are aligned across languages by number', () => {
  const c = udhrCorpus({ languages: ['eng', 'swh', 'cmn', 'amh'] });
  const ids = alignedUnitIds(c);
  // Amharic's declaration has no preamble, so the shared units are the 30 articles.
  assert.equal(ids.length, 30);
  assert.equal(ids[0], 'article-1');
  assert.match(c.units('swh').find((u) => u.id === 'article-3')!.text, /kuishi/);
  assert.match(c.units('cmn').find((u) => u.id === 'article-1')!.text, /^人人生而自由/);
});

test('entry defaults per ISO code, and naming a specific entry', () => {
  assert.equal(resolveUdhrEntry('cmn').code, 'cmn_hans');
  assert.equal(resolveUdhrEntry('deu').code, 'deu_1996');
  assert.equal(resolveUdhrEntry('eng').code, 'eng');
  assert.equal(resolveUdhrEntry('cmn_hant').code, 'cmn_hant');
  assert.equal(udhrEntriesFor('cmn')[0].code, 'cmn_hans');
  const c = udhrCorpus({ languages: ['cmn_hant', 'por_BR'] });
  assert.equal(c.iso6393('cmn_hant'), 'cmn');
  assert.match(c.units('cmn_hant').find((u) => u.id === 'article-1')!.text, /權利/);
  // Every ISO code with complete entries resolves to one of them.
  for (const iso of new Set(udhrEntries().map((e) => e.iso6393))) assert.ok(resolveUdhrEntry(iso).stage >= 4);
});

test('incomplete declarations are skipped unless asked', () => {
  assert.ok(udhrEntries().every((e) => e.stage >= 4));
  assert.ok(udhrEntries({ includeIncomplete: true }).some((e) => e.stage < 4));
  assert.throws(
    () => resolveUdhrEntry('tzm_tfng'),
    (e: unknown) => e instanceof DataError && /incomplete \(stage 1\)/.test(e.message),
  );
  assert.equal(resolveUdhrEntry('tzm_tfng', { includeIncomplete: true }).code, 'tzm_tfng');
  assert.throws(
    () => resolveUdhrEntry('chv'),
    (e: unknown) => e instanceof DataError && /only incomplete/.test(e.message),
  );
});

test('unknown language and unopened language are DataErrors that say what to do', () => {
  assert.throws(
    () => udhrCorpus({ languages: ['xxq'] }),
    (e: unknown) => e instanceof DataError && /unknown language "xxq".*ISO 639-3/.test(e.message),
  );
  const c = udhrCorpus({ languages: ['eng'] });
  assert.throws(
    () => c.units('fra'),
    (e: unknown) => e instanceof DataError && /add it to the languages/.test(e.message),
  );
});

test('parser: entities decoded, whitespace collapsed, a file without sections refused', () => {
  const p = parseUdhrHtml(
    '<title>T</title><header><h2>P</h2><p>a &#x26;  b\n c</p></header><article data-number="2"><h2>A 2</h2><ol><li><p>x</p></li><li><p>y</p></li></ol></article>',
    'f.html',
  );
  assert.deepEqual(
    p.units.map((u) => [u.id, u.heading, u.text]),
    [
      ['preamble', 'P', 'a & b c'],
      ['article-2', 'A 2', 'x\ny'],
    ],
  );
  assert.throws(
    () => parseUdhrHtml('<html></html>', 'bad.html'),
    (e: unknown) => e instanceof DataError && /bad\.html/.test(e.message),
  );
});

test('text statistics: bytes, code points, words', () => {
  assert.deepEqual(textStats('ab 人人 😀'), { bytes: 2 + 1 + 6 + 1 + 4, chars: 7, words: 3 });
  const eng = joinUnits(udhrCorpus({ languages: ['eng'] }).units('eng'));
  assert.ok(textStats(eng).bytes > 9000);
});
