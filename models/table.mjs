// Prints the held-out bits-per-byte table of models/README.md from each model's training.json
// (node models/table.mjs). Groups follow the default mix: share 0 = unseen; the study's
// high-resource languages (the ten largest shares) = high; the rest = low.
import { readFileSync } from 'node:fs';

const names = ['gpt2-mini', 'opt-mini', 'neox-mini'];
const runs = names.map((n) => JSON.parse(readFileSync(new URL(`./${n}/training.json`, import.meta.url), 'utf8')));
const langs = runs[0].heldOut.map((h) => h.lang);
const maxShare = Math.max(...runs[0].heldOut.map((h) => h.share));
const group = (h) => (h.share === 0 ? 'unseen' : h.share === maxShare ? 'high' : 'low');
const rows = ['| language | group | share of training sequences | ' + names.map((n) => `${n} BPB`).join(' | ') + ' |', '| --- | --- | ---: | ' + names.map(() => '---:').join(' | ') + ' |'];
const sums = {};
for (const lang of langs) {
  const hs = runs.map((r) => r.heldOut.find((h) => h.lang === lang));
  const g = group(hs[0]);
  rows.push(`| ${lang} | ${g} | ${(hs[0].share * 100).toFixed(1)} % | ${hs.map((h) => h.bitsPerByte.toFixed(3)).join(' | ')} |`);
  sums[g] ??= names.map(() => []);
  hs.forEach((h, i) => sums[g][i].push(h.bitsPerByte));
}
for (const g of ['high', 'low', 'unseen']) {
  if (!sums[g]) continue;
  rows.push(`| **mean ${g}** | | | ${sums[g].map((v) => `**${(v.reduce((a, b) => a + b, 0) / v.length).toFixed(3)}**`).join(' | ')} |`);
}
console.log(rows.join('\n'));
console.log();
console.log('| model | parameters | steps | training time | final loss (mean of last 50 steps) |');
console.log('| --- | ---: | ---: | ---: | ---: |');
runs.forEach((r, i) => console.log(`| ${names[i]} | ${r.parameters.toLocaleString('en-US')} | ${r.steps} | ${(r.timeSeconds / 60).toFixed(1)} min | ${r.meanLossLast50} |`));
