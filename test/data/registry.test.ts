// The language registry, resource groups, script detection and the default study set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { joinUnits } from '../../src/data/corpus.ts';
import {
  checkLanguageScript,
  DEFAULT_STUDY_GROUPS,
  DEFAULT_STUDY_LANGUAGES,
  expectedScript,
  getLanguage,
  groupLanguages,
  languageRegistry,
  resolveGroups,
  resourceGroup,
} from '../../src/data/registry.ts';
import { detectScript, scriptMatches } from '../../src/data/script.ts';
import { resolveUdhrEntry, udhrCorpus, udhrEntries, udhrEntriesFor } from '../../src/data/udhr.ts';
import { floresCorpus } from '../../src/data/user.ts';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { parse } from 'yaml';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataError } from '../../src/errors.ts';

test('registry entries are well formed and unique', () => {
  const all = languageRegistry();
  assert.ok(all.length >= 60);
  assert.equal(new Set(all.map((l) => l.iso6393)).size, all.length);
  for (const l of all) {
    assert.match(l.iso6393, /^[a-z]{3}$/);
    assert.match(l.script, /^[A-Z][a-z]{3}$/);
    assert.ok(Number.isInteger(l.joshiClass) && l.joshiClass >= 0 && l.joshiClass <= 5, l.iso6393);
    assert.ok(l.name && l.family);
  }
  assert.equal(getLanguage('eng').joshiClass, 5);
  assert.equal(getLanguage('swh').joshiClass, 2);
  assert.throws(
    () => getLanguage('zzz'),
    (e: unknown) => e instanceof DataError && /not in the language registry/.test(e.message),
  );
});

test('groups follow the rule (default 4–5 high, 0–2 low) and can be overridden', () => {
  assert.equal(resourceGroup('eng'), 'high');
  assert.equal(resourceGroup('tha'), 'mid');
  assert.equal(resourceGroup('yor'), 'low');
  assert.deepEqual(groupLanguages(['eng', 'tha', 'yor', 'hin']), { high: ['eng', 'hin'], low: ['yor'], mid: ['tha'] });
  assert.equal(resourceGroup('tha', { high: [3, 4, 5], low: [0, 1, 2] }), 'high');
});

test('default study set: ≥ 8 high, ≥ 8 low, ≥ 5 scripts, all complete udhr declarations', () => {
  const g = groupLanguages(DEFAULT_STUDY_LANGUAGES);
  assert.deepEqual(g.high, [...DEFAULT_STUDY_GROUPS.high]);
  assert.deepEqual(g.low, [...DEFAULT_STUDY_GROUPS.low]);
  assert.ok(g.high.length >= 8 && g.low.length >= 8 && g.mid.length === 0);
  assert.ok(new Set(DEFAULT_STUDY_LANGUAGES.map((l) => getLanguage(l).script)).size >= 5);
  for (const l of DEFAULT_STUDY_LANGUAGES) assert.ok(resolveUdhrEntry(l).stage >= 4, l);
});

test('the built-in study pipeline lists the default study set, grouped by the rule', () => {
  const spec = parse(readFileSync(new URL('../../pipelines/disparity.yaml', import.meta.url), 'utf8')) as {
    corpus: { groups: { high: string[]; low: string[] } };
  };
  const { high, low } = spec.corpus.groups;
  assert.deepEqual(resolveGroups([...high, ...low]), { high, low });
  assert.deepEqual([...high, ...low].sort(), [...DEFAULT_STUDY_LANGUAGES].sort());
});

test("script detected from each registry language's UDHR text agrees with the registry", () => {
  const langs = languageRegistry()
    .filter((l) => udhrEntriesFor(l.iso6393).length > 0)
    .map((l) => l.iso6393);
  const c = udhrCorpus({ languages: langs });
  const bad = langs
    .map((l) => checkLanguageScript(l, joinUnits(c.units(l)), { throwOnMismatch: false }))
    .filter((r) => !r.ok || r.share < 0.9);
  assert.deepEqual(bad, []);
});

test('script detection: combined scripts, Han variants, no letters, mismatch error', () => {
  assert.equal(detectScript('人人生而自由，在尊严和权利上一律平等').script, 'Hans');
  assert.equal(detectScript('人人生而自由，在尊嚴和權利上一律平等').script, 'Hant');
  assert.equal(detectScript('すべての人間は、生れながらにして自由').script, 'Jpan');
  assert.equal(detectScript('모든 인간은 태어날 때부터 自由').script, 'Kore');
  assert.equal(detectScript('Всі люди народжуються вільними').script, 'Cyrl');
  assert.equal(detectScript('12, 34 — !').script, 'Zyyy');
  assert.throws(
    () => checkLanguageScript('rus', 'All human beings are born free', { source: 'rus.txt' }),
    (e: unknown) => e instanceof DataError && /rus\.txt .* Latn .* registry says Cyrl/.test(e.message),
  );
});

test('expected script: a UDHR entry or a FLORES key that names its script overrides the registry', () => {
  // Every complete UDHR entry whose BCP 47 tag names a script is detected as written in it.
  const named = udhrEntries()
    .filter((e) => /-[A-Z][a-z]{3}(-|$)/.test(e.bcp47))
    .map((e) => e.code);
  assert.ok(named.length >= 20);
  const c = udhrCorpus({ languages: [...named, 'eng', 'cmn'] });
  const bad = named.filter(
    (l) =>
      !checkLanguageScript(c.iso6393(l), joinUnits(c.units(l)), {
        expected: expectedScript(c, l)!,
        throwOnMismatch: false,
      }).ok,
  );
  assert.deepEqual(bad, []);
  assert.deepEqual(
    ['cmn_hant', 'srp_latn', 'eng', 'cmn'].map((l) => expectedScript(c, l)),
    ['Hant', 'Latn', 'Latn', 'Hans'],
  );
  // Traditional Chinese and Latin Serbian are not the registry's script, but they are what was asked for.
  assert.equal(checkLanguageScript('srp', joinUnits(c.units('srp_latn')), { throwOnMismatch: false }).ok, false);
  const dir = mkdtempSync(join(tmpdir(), 'lq-script-'));
  mkdirSync(join(dir, 'dev'));
  writeFileSync(join(dir, 'dev', 'zho_Hant.dev'), '人人生而自由，在尊嚴和權利上一律平等。\n');
  writeFileSync(join(dir, 'dev', 'rus_Cyrl.dev'), 'All human beings are born free.\n');
  const f = floresCorpus(dir);
  assert.equal(expectedScript(f, 'zho_Hant'), 'Hant');
  assert.throws(
    () =>
      checkLanguageScript('rus', joinUnits(f.units('rus_Cyrl')), {
        expected: expectedScript(f, 'rus_Cyrl')!,
        source: 'rus_Cyrl.dev',
      }),
    (e: unknown) => e instanceof DataError && /rus_Cyrl\.dev .* Latn .* its name says Cyrl/.test(e.message),
  );
  assert.ok(scriptMatches('Hant', 'Hani') && scriptMatches('Hani', 'Hans') && !scriptMatches('Latn', 'Hani'));
});

test('resolveGroups: by rule, overridden by listed members, checked', () => {
  assert.deepEqual(
    resolveGroups(['eng', 'tha', 'yor', 'cmn_hant'], {}, (k) => k.split('_')[0]),
    { high: ['eng', 'cmn_hant'], low: ['yor'] },
  );
  assert.deepEqual(resolveGroups(['eng', 'tha', 'yor'], { rule: { high: [3, 4, 5], low: [0, 1, 2] } }), {
    high: ['eng', 'tha'],
    low: ['yor'],
  });
  assert.deepEqual(resolveGroups(['eng', 'tha', 'yor'], { low: ['tha', 'yor'] }), {
    high: ['eng'],
    low: ['tha', 'yor'],
  });
  assert.throws(
    () => resolveGroups(['eng'], { low: ['swh'] }),
    (e: unknown) => e instanceof DataError && /lists "swh", which is not among/.test(e.message),
  );
  assert.throws(
    () => resolveGroups(['eng', 'swh'], { high: ['eng', 'swh'] }),
    (e: unknown) => e instanceof DataError && /swh is in both/.test(e.message),
  );
});
