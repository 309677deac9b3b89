// Writing-system detection: which ISO 15924 script a text is written in, from the Unicode Script
// property of its letters (Unicode Standard Annex #24; codes from ISO 15924, unicode.org/iso15924).
//
// Each code point is classified by the Script property (JavaScript's \p{Script=…}); code points of
// the Common and Inherited scripts (digits, punctuation, spaces, combining marks) are not counted.
// Then the scripts Unicode splits but ISO 15924 and language registries join are combined:
//   Han + Hiragana/Katakana → Jpan (Japanese);  Hangul (+ Han) → Kore (Korean);
//   Han alone → Hans or Hant by counting characters that exist only in simplified or only in
//   traditional form (a short list of frequent ones), Hani when neither decides.
//
// Public API:
//   detectScript(text) → { script, share, counts }    script: dominant ISO 15924 code, or "Zyyy" if no letters
//   scriptMatches(detected, expected)                  equality, with Hani ≈ Hans/Hant (either way round)

/** Unicode script names (for \p{Script=…}) → ISO 15924 codes. */
const SCRIPTS: readonly [string, string][] = [
  ['Latin', 'Latn'],
  ['Cyrillic', 'Cyrl'],
  ['Greek', 'Grek'],
  ['Arabic', 'Arab'],
  ['Hebrew', 'Hebr'],
  ['Han', 'Hani'],
  ['Hiragana', 'Hira'],
  ['Katakana', 'Kana'],
  ['Hangul', 'Hang'],
  ['Bopomofo', 'Bopo'],
  ['Devanagari', 'Deva'],
  ['Bengali', 'Beng'],
  ['Gurmukhi', 'Guru'],
  ['Gujarati', 'Gujr'],
  ['Oriya', 'Orya'],
  ['Tamil', 'Taml'],
  ['Telugu', 'Telu'],
  ['Kannada', 'Knda'],
  ['Malayalam', 'Mlym'],
  ['Sinhala', 'Sinh'],
  ['Thai', 'Thai'],
  ['Lao', 'Laoo'],
  ['Tibetan', 'Tibt'],
  ['Myanmar', 'Mymr'],
  ['Khmer', 'Khmr'],
  ['Georgian', 'Geor'],
  ['Armenian', 'Armn'],
  ['Ethiopic', 'Ethi'],
  ['Cherokee', 'Cher'],
  ['Canadian_Aboriginal', 'Cans'],
  ['Mongolian', 'Mong'],
  ['Tifinagh', 'Tfng'],
  ['Thaana', 'Thaa'],
  ['Syriac', 'Syrc'],
  ['Nko', 'Nkoo'],
  ['Vai', 'Vaii'],
  ['Adlam', 'Adlm'],
  ['Yi', 'Yiii'],
  ['Tagalog', 'Tglg'],
  ['Javanese', 'Java'],
  ['Balinese', 'Bali'],
  ['Buginese', 'Bugi'],
  ['Ol_Chiki', 'Olck'],
  ['Tai_Le', 'Tale'],
  ['New_Tai_Lue', 'Talu'],
  ['Tai_Viet', 'Tavt'],
  ['Cham', 'Cham'],
  ['Bamum', 'Bamu'],
  ['Osmanya', 'Osma'],
  ['Sundanese', 'Sund'],
  ['Lepcha', 'Lepc'],
  ['Limbu', 'Limb'],
  ['Meetei_Mayek', 'Mtei'],
  ['Chakma', 'Cakm'],
  ['Samaritan', 'Samr'],
  ['Hanifi_Rohingya', 'Rohg'],
  ['Coptic', 'Copt'],
  ['Runic', 'Runr'],
  ['Ogham', 'Ogam'],
  ['Braille', 'Brai'],
  ['Tai_Tham', 'Lana'],
  ['Grantha', 'Gran'],
].map(([name, code]) => [name, code] as [string, string]);

const MATCHERS: readonly [RegExp, string][] = SCRIPTS.map(([name, code]) => [
  new RegExp(`\\p{Script=${name}}`, 'u'),
  code,
]);
const COMMON = /[\p{Script=Common}\p{Script=Inherited}]/u;
const cache = new Map<number, string | null>();

function scriptOf(cp: number, ch: string): string | null {
  let s = cache.get(cp);
  if (s !== undefined) return s;
  s = null;
  if (!COMMON.test(ch)) {
    s = 'Zzzz'; // a letter of a script this table does not list
    for (const [re, code] of MATCHERS) {
      if (re.test(ch)) {
        s = code;
        break;
      }
    }
  }
  cache.set(cp, s);
  return s;
}

// Frequent characters written differently in simplified and traditional Chinese.
const SIMPLIFIED_ONLY = new Set(
  '这国说们为时会权对来过还发经关与书长门马见东车无务实观应动学问间让认总点从头样结资组标议龙个员种报几义给众条产务虽压导华尽级际该护决让亲属统宪营环区岁获须职责'.split(
    '',
  ),
);
const TRADITIONAL_ONLY = new Set(
  '這國說們為時會權對來過還發經關與書長門馬見東車無務實觀應動學問間讓認總點從頭樣結資組標議龍個員種報幾義給眾條產務雖壓導華盡級際該護決讓親屬統憲營環區歲獲須職責'.split(
    '',
  ),
);

export interface ScriptDetection {
  /** Dominant ISO 15924 code; "Zyyy" (Common) when the text has no letters of any script. */
  script: string;
  /** Share of the counted code points that belong to `script` (after combining Jpan/Kore). */
  share: number;
  /** Code points per Unicode script (ISO 15924 codes), Common/Inherited not counted. */
  counts: Record<string, number>;
}

export function detectScript(text: string): ScriptDetection {
  const counts: Record<string, number> = {};
  let simplified = 0;
  let traditional = 0;
  let total = 0;
  for (const ch of text) {
    const s = scriptOf(ch.codePointAt(0)!, ch);
    if (s === null) continue;
    counts[s] = (counts[s] ?? 0) + 1;
    total++;
    if (s === 'Hani') {
      if (SIMPLIFIED_ONLY.has(ch)) simplified++;
      else if (TRADITIONAL_ONLY.has(ch)) traditional++;
    }
  }
  if (total === 0) return { script: 'Zyyy', share: 0, counts };
  // Combine the Unicode scripts that write one language together.
  const merged: Record<string, number> = { ...counts };
  const han = merged.Hani ?? 0;
  const kana = (merged.Hira ?? 0) + (merged.Kana ?? 0);
  const hangul = merged.Hang ?? 0;
  if (kana > 0 && kana + han >= hangul) {
    merged.Jpan = kana + han;
    delete merged.Hira;
    delete merged.Kana;
    delete merged.Hani;
  } else if (hangul > 0) {
    merged.Kore = hangul + han;
    delete merged.Hang;
    delete merged.Hani;
  }
  let best = '';
  let bestN = -1;
  for (const [k, v] of Object.entries(merged)) {
    if (v > bestN || (v === bestN && k < best)) {
      best = k;
      bestN = v;
    }
  }
  if (best === 'Hani') best = simplified > traditional ? 'Hans' : traditional > simplified ? 'Hant' : 'Hani';
  return { script: best, share: bestN / total, counts };
}

/** Whether a detected script agrees with an expected (registry) one: Hani stands for Hans or Hant. */
export function scriptMatches(detected: string, expected: string): boolean {
  if (detected === expected) return true;
  if (detected === 'Hani') return expected === 'Hans' || expected === 'Hant';
  // A text declared as Han (e.g. Vietnamese Chữ Nôm, "vi-Hani") may be detected as either variant.
  if (expected === 'Hani') return detected === 'Hans' || detected === 'Hant';
  return false;
}
