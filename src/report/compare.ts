// `--compare`: two runs' tables side by side. Rows are aligned by their key columns (language,
// model, share …); a numeric column becomes A, B and the difference B − A; a text column is shown
// once when both runs agree everywhere, else as A and B. Rows present in only one run stay, blank
// on the other side.

import { formatNumber, type Cell, type Column, type Table } from './figure.ts';

const keyOf = (t: Table, row: Cell[]) =>
  t.columns
    .map((c, i) => (c.key ? (row[i]?.text ?? '') : null))
    .filter((x) => x !== null)
    .join('\u0000');

// A column of numbers gets a difference; a 0/1 flag put in words (stable/unstable, yes/no) does not.
const isNumeric = (rows: (Cell[] | undefined)[], i: number) =>
  rows.some((r) => r?.[i]?.value !== undefined && !r[i].worded);

/** The table of run A beside the same table of run B (`b` undefined: B has no such table). */
export function compareTables(a: Table | undefined, b: Table | undefined, labels: { a: string; b: string }): Table {
  if (!a || !b) {
    const only = (a ?? b)!;
    return { ...only, caption: `${only.caption} (only in ${a ? labels.a : labels.b})` };
  }
  const base = a;
  const other = b;
  const rowsA = new Map(a.rows.map((r) => [keyOf(a, r), r]));
  const rowsB = new Map(b.rows.map((r) => [keyOf(b, r), r]));
  const keys = [...new Set([...rowsA.keys(), ...rowsB.keys()])];
  const columns: Column[] = [];
  const pick: ((ka: Cell[] | undefined, kb: Cell[] | undefined) => Cell)[] = [];
  const blank: Cell = { text: '' };
  base.columns.forEach((c, i) => {
    const bi = other.columns[i]?.label === c.label ? i : other.columns.findIndex((x) => x.label === c.label);
    const fromB = (r: Cell[] | undefined) => (bi >= 0 && r ? (r[bi] ?? blank) : blank);
    if (c.key) {
      columns.push(c);
      pick.push((ra, rb) => ra?.[i] ?? fromB(rb));
      return;
    }
    const all = [...rowsA.values(), ...rowsB.values()];
    if (isNumeric(all, i)) {
      // A, B and B − A shown with one count of decimals, so they read against each other.
      const decimals = c.decimals ?? `compare-${i}`;
      columns.push(
        { ...c, label: `${c.label} (${labels.a})`, decimals },
        { ...c, label: `${c.label} (${labels.b})`, decimals },
        { ...c, label: `Δ ${c.label} (${labels.b} − ${labels.a})`, decimals },
      );
      pick.push(
        (ra) => ra?.[i] ?? blank,
        (_ra, rb) => fromB(rb),
        (ra, rb) => {
          const va = ra?.[i]?.value;
          const vb = fromB(rb).value;
          if (va === undefined || vb === undefined) return { text: '–' };
          const dv = vb - va;
          return Number.isFinite(dv)
            ? { text: (dv > 0 ? '+' : '') + formatNumber(dv), value: dv, derived: true, signed: true }
            : { text: '–' };
        },
      );
      return;
    }
    const differs = keys.some((k) => (rowsA.get(k)?.[i]?.text ?? '') !== (fromB(rowsB.get(k)).text ?? ''));
    if (!differs) {
      columns.push(c);
      pick.push((ra, rb) => ra?.[i] ?? fromB(rb));
    } else {
      columns.push({ ...c, label: `${c.label} (${labels.a})` }, { ...c, label: `${c.label} (${labels.b})` });
      pick.push(
        (ra) => ra?.[i] ?? blank,
        (_ra, rb) => fromB(rb),
      );
    }
  });
  return {
    id: base.id,
    caption: `${base.caption} — ${labels.a} against ${labels.b}`,
    columns,
    rows: keys.map((k) => pick.map((f) => f(rowsA.get(k), rowsB.get(k)))),
  };
}

/** Pairs the tables of two lists by id and compares each pair. */
export function compareTableLists(a: Table[], b: Table[], labels: { a: string; b: string }): Table[] {
  const ids = [...new Set([...a.map((t) => t.id), ...b.map((t) => t.id)])];
  return ids.map((id) =>
    compareTables(
      a.find((t) => t.id === id),
      b.find((t) => t.id === id),
      labels,
    ),
  );
}
