// Research-question rules: a small declarative language written in the pipeline file that turns
// stored evidence into CONFIRMED / REFUTED / PARTIAL / PENDING with a one-line evidence string.
//
//   rule:
//     params: { margin_lo: 0.8, margin_hi: 1.25 }   # optional named constants (numbers)
//     values:                      # named numbers drawn from the store
//       ratio: { experiment: A-003, metric: ratio_dbpb, model: base }
//       lo:    { experiment: A-003, metric: ratio_dbpb_lo, model: base, across: min }
//       hi:    { experiment: A-003, metric: ratio_dbpb_hi, model: base, across: max }
//       agree: { experiment: A-003, consistency: agreeing }
//     cases:                       # first case whose `when` holds wins; a case without `when` always holds
//       - { when: "lo > 1 and agree == reps", status: CONFIRMED }
//       - { when: "lo >= margin_lo and hi <= margin_hi", status: REFUTED }
//       - { status: PARTIAL }
//     evidence: "disparity {ratio:.1f}× [{lo:.1f}, {hi:.1f}], consistent in {agree}/{reps} replicates"
//
// A value selects metric rows (by experiment, metric, model, language or `@group`, replicate),
// reduces each replicate's rows with `within` (default mean) and the replicates with `across`
// (mean, sd, lo/hi of a 95 % t-interval, min, max, n). The default `across` is mean, except for an
// interval bound: a metric whose name ends in `_lo` defaults to min and one ending in `_hi` to max,
// so a bound across replicates is the worst replicate's (the weakest replicate decides; averaging
// bounds would let two strong replicates hide a weak one). An explicit `across` still wins.
// `params` are named numeric constants (e.g. an equivalence margin) usable like values in `when`
// and in evidence templates; their names must differ from the values' names. Expressions have
// numbers, value and param names, + − * /, comparisons, and/or/not, true/false and
// abs/min/max/sqrt/log/isfinite.
// Pure: evaluated against an `EvidenceSource`, which the store provides and tests can construct.

import type { ConsistencyResult, MetricRow, QuestionRuleFn } from './kind.ts';
import { mean, median, summarize } from './stats.ts';

export type QuestionStatus = 'CONFIRMED' | 'REFUTED' | 'PARTIAL' | 'PENDING';
export const QUESTION_STATUSES: readonly QuestionStatus[] = ['CONFIRMED', 'REFUTED', 'PARTIAL', 'PENDING'];
export const WITHIN = ['mean', 'median', 'min', 'max', 'sum', 'count'] as const;
export const ACROSS = ['mean', 'sd', 'lo', 'hi', 'min', 'max', 'n'] as const;
export const CONSISTENCY_FIELDS = ['agreeing', 'total', 'ok'] as const;

export interface ValueSelector {
  experiment: string;
  metric?: string;
  model?: string;
  language?: string; // a language code, or '@group' for every language of a corpus group
  replicate?: number;
  within?: (typeof WITHIN)[number];
  across?: (typeof ACROSS)[number];
  consistency?: (typeof CONSISTENCY_FIELDS)[number];
}

export interface RuleCase {
  when: string | null;
  status: QuestionStatus;
  evidence: string | null;
}

export interface DeclarativeRule {
  /** Named numeric constants usable in `when` and templates (absent in pipelines stored before they existed). */
  params?: Record<string, number>;
  values: Record<string, ValueSelector>;
  cases: RuleCase[];
  evidence: string | null;
}

export interface CodeRule {
  fn: string;
  params: Record<string, unknown>;
}

export interface QuestionSpec {
  id: string;
  question: string;
  experiments: string[];
  rule: DeclarativeRule | CodeRule | null;
}

/** What a rule may know about an experiment. `complete`: every replicate has stored results. */
export interface ExperimentState {
  status: string;
  reason: string | null;
  complete: boolean;
}

export interface EvidenceSource {
  readonly groups: Readonly<Record<string, readonly string[]>>;
  state(id: string): ExperimentState | undefined;
  metrics(id: string): MetricRow[];
  consistency(id: string): ConsistencyResult | null;
}

export interface QuestionVerdict {
  id: string;
  question: string;
  status: QuestionStatus;
  evidence: string;
  experiments: string[];
}

// ---------------------------------------------------------------- expressions

type Ast =
  | { t: 'num'; v: number }
  | { t: 'id'; name: string }
  | { t: 'call'; fn: string; args: Ast[] }
  | { t: 'un'; op: '-' | 'not'; e: Ast }
  | { t: 'bin'; op: string; l: Ast; r: Ast };

const FUNCTIONS: Record<string, { arity: [number, number]; f: (...a: number[]) => number }> = {
  abs: { arity: [1, 1], f: Math.abs },
  sqrt: { arity: [1, 1], f: Math.sqrt },
  log: { arity: [1, 1], f: Math.log },
  isfinite: { arity: [1, 1], f: (x) => (Number.isFinite(x) ? 1 : 0) },
  min: { arity: [1, 99], f: (...a) => Math.min(...a) },
  max: { arity: [1, 99], f: (...a) => Math.max(...a) },
};

export class RuleSyntaxError extends Error {}

export interface CompiledExpr {
  ast: Ast;
  ids: Set<string>;
}

/** Parses an expression; throws RuleSyntaxError saying what is wrong and where. */
export function compileExpr(src: string): CompiledExpr {
  const toks: { k: string; v: string; at: number }[] = [];
  const re = /\s*(?:(\d+(?:\.\d*)?(?:e[+-]?\d+)?|\.\d+)|([A-Za-z_][A-Za-z0-9_]*)|(<=|>=|==|!=|&&|\|\||[<>+\-*/(),!]))/y;
  let pos = 0;
  while (pos < src.length) {
    if (/^\s*$/.test(src.slice(pos))) break;
    re.lastIndex = pos;
    const m = re.exec(src);
    if (!m) {
      const at = pos + (src.slice(pos).length - src.slice(pos).trimStart().length);
      throw new RuleSyntaxError(`unexpected '${src[at]}' at column ${at + 1} of "${src}"`);
    }
    const at = m.index + m[0].length - (m[1] ?? m[2] ?? m[3]).length;
    if (m[1] !== undefined) toks.push({ k: 'num', v: m[1], at });
    else if (m[2] !== undefined)
      toks.push({ k: ['and', 'or', 'not', 'true', 'false'].includes(m[2]) ? m[2] : 'id', v: m[2], at });
    else toks.push({ k: m[3] === '&&' ? 'and' : m[3] === '||' ? 'or' : m[3] === '!' ? 'not' : m[3], v: m[3], at });
    pos = re.lastIndex;
  }
  let i = 0;
  const ids = new Set<string>();
  const peek = () => toks[i]?.k;
  const fail = (what: string): never => {
    const t = toks[i];
    throw new RuleSyntaxError(`${what} ${t ? `at '${t.v}' (column ${t.at + 1})` : 'at the end'} of "${src}"`);
  };
  const expect = (k: string) => (peek() === k ? toks[i++] : fail(`expected '${k}'`));
  const binary = (next: () => Ast, ops: string[]) => (): Ast => {
    let l = next();
    while (ops.includes(peek() ?? '')) {
      const op = toks[i++].k;
      l = { t: 'bin', op, l, r: next() };
    }
    return l;
  };
  const atom = (): Ast => {
    const t = toks[i];
    if (!t) return fail('expected a value');
    if (t.k === 'num') return (i++, { t: 'num', v: Number(t.v) });
    if (t.k === 'true' || t.k === 'false') return (i++, { t: 'num', v: t.k === 'true' ? 1 : 0 });
    if (t.k === '(') {
      i++;
      const e = orExpr();
      expect(')');
      return e;
    }
    if (t.k === 'id') {
      i++;
      if (peek() === '(') {
        const fn = FUNCTIONS[t.v];
        if (!fn)
          throw new RuleSyntaxError(
            `unknown function '${t.v}' in "${src}" (known: ${Object.keys(FUNCTIONS).join(', ')})`,
          );
        i++;
        const args: Ast[] = [];
        if (peek() !== ')') {
          args.push(orExpr());
          while (peek() === ',') {
            i++;
            args.push(orExpr());
          }
        }
        expect(')');
        if (args.length < fn.arity[0] || args.length > fn.arity[1])
          throw new RuleSyntaxError(
            `${t.v}() takes ${fn.arity[0]}${fn.arity[1] > fn.arity[0] ? ' or more' : ''} argument(s) in "${src}"`,
          );
        return { t: 'call', fn: t.v, args };
      }
      ids.add(t.v);
      return { t: 'id', name: t.v };
    }
    return fail('expected a value');
  };
  const unary = (): Ast => (peek() === '-' ? (i++, { t: 'un', op: '-', e: unary() }) : atom());
  const product = binary(unary, ['*', '/']);
  const sum = binary(product, ['+', '-']);
  const cmp = (): Ast => {
    const l = sum();
    if (['<', '<=', '>', '>=', '==', '!='].includes(peek() ?? '')) {
      const op = toks[i++].k;
      return { t: 'bin', op, l, r: sum() };
    }
    return l;
  };
  const notExpr = (): Ast => (peek() === 'not' ? (i++, { t: 'un', op: 'not', e: notExpr() }) : cmp());
  const andExpr = binary(notExpr, ['and']);
  const orExpr = binary(andExpr, ['or']);
  if (toks.length === 0) throw new RuleSyntaxError('empty expression');
  const ast = orExpr();
  if (i < toks.length) fail('unexpected');
  return { ast, ids };
}

/** Evaluates to a number; booleans are 1 and 0; a comparison involving NaN is false. */
export function evalExpr(ast: Ast, env: Readonly<Record<string, number>>): number {
  switch (ast.t) {
    case 'num':
      return ast.v;
    case 'id':
      return env[ast.name] ?? NaN;
    case 'call':
      return FUNCTIONS[ast.fn].f(...ast.args.map((a) => evalExpr(a, env)));
    case 'un': {
      const v = evalExpr(ast.e, env);
      return ast.op === '-' ? -v : truthy(v) ? 0 : 1;
    }
    case 'bin': {
      if (ast.op === 'and') return truthy(evalExpr(ast.l, env)) && truthy(evalExpr(ast.r, env)) ? 1 : 0;
      if (ast.op === 'or') return truthy(evalExpr(ast.l, env)) || truthy(evalExpr(ast.r, env)) ? 1 : 0;
      const l = evalExpr(ast.l, env);
      const r = evalExpr(ast.r, env);
      switch (ast.op) {
        case '+':
          return l + r;
        case '-':
          return l - r;
        case '*':
          return l * r;
        case '/':
          return l / r;
        case '<':
          return l < r ? 1 : 0;
        case '<=':
          return l <= r ? 1 : 0;
        case '>':
          return l > r ? 1 : 0;
        case '>=':
          return l >= r ? 1 : 0;
        case '==':
          return l === r ? 1 : 0;
        case '!=':
          return l !== r && !(Number.isNaN(l) && Number.isNaN(r)) ? 1 : 0;
      }
    }
  }
  throw new Error(`evalExpr: unknown node ${JSON.stringify(ast)}`);
}

const truthy = (v: number) => v !== 0 && !Number.isNaN(v);

// ---------------------------------------------------------------- evidence templates

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}/g;

/** Names used in an evidence template, and a check of their format specs. */
export function templateNames(tpl: string): string[] {
  const names: string[] = [];
  for (const m of tpl.matchAll(PLACEHOLDER)) {
    if (m[2] !== undefined && !/^(\.\d+[fg%]|d|%)$/.test(m[2]))
      throw new RuleSyntaxError(`format '${m[2]}' of {${m[1]}} is not one of .Nf, .Ng, .N%, d, %`);
    names.push(m[1]);
  }
  return names;
}

/** Formats a number: `.2f` fixed, `.3g` significant, `.1%` percent, `d` integer; default 3 significant digits. */
export function formatNumber(v: number, spec?: string): string {
  if (Number.isNaN(v)) return 'n/a';
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '−∞';
  if (spec === 'd') return String(Math.round(v));
  const m = /^\.(\d+)([fg%])$|^%$/.exec(spec ?? '');
  if (m) {
    const digits = m[1] === undefined ? 0 : Number(m[1]);
    const kind = m[2] ?? '%';
    if (kind === 'f') return v.toFixed(digits);
    if (kind === '%') return `${(v * 100).toFixed(digits)} %`;
    return String(Number(v.toPrecision(Math.max(1, digits))));
  }
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(3)));
}

export function renderTemplate(tpl: string, env: Readonly<Record<string, number>>): string {
  return tpl.replace(PLACEHOLDER, (_, name: string, spec?: string) => formatNumber(env[name] ?? NaN, spec));
}

// ---------------------------------------------------------------- evaluation

/** Checks the names a declarative rule uses: each must be one of its values or params. */
function checkNames(rule: DeclarativeRule): string[] {
  const errors: string[] = [];
  const params = rule.params ?? {};
  for (const [name, v] of Object.entries(params)) {
    if (Object.hasOwn(rule.values, name))
      errors.push(`params.${name}: the name is also a value's; give the constant another name`);
    if (typeof v !== 'number' || !Number.isFinite(v))
      errors.push(`params.${name}: '${String(v)}' is not a number; a declarative rule's params are numeric constants`);
  }
  const known = new Set([...Object.keys(rule.values), ...Object.keys(params)]);
  const use = (names: Iterable<string>, where: string) => {
    for (const n of names)
      if (!known.has(n))
        errors.push(
          `${where} uses '${n}', which is not one of its values or params (${[...known].join(', ') || 'none'})`,
        );
  };
  rule.cases.forEach((c, i) => {
    if (c.when !== null) {
      try {
        use(compileExpr(c.when).ids, `cases[${i}].when`);
      } catch (e) {
        errors.push(`cases[${i}].when: ${(e as Error).message}`);
      }
    }
    if (c.evidence !== null) {
      try {
        use(templateNames(c.evidence), `cases[${i}].evidence`);
      } catch (e) {
        errors.push(`cases[${i}].evidence: ${(e as Error).message}`);
      }
    }
  });
  if (rule.evidence !== null) {
    try {
      use(templateNames(rule.evidence), 'evidence');
    } catch (e) {
      errors.push(`evidence: ${(e as Error).message}`);
    }
  }
  return errors;
}

/** Load-time checks of a question's rule: syntax, names, experiment ids and groups. Returns messages. */
export function checkRule(
  q: QuestionSpec,
  experimentIds: ReadonlySet<string>,
  groups: Readonly<Record<string, readonly string[]>>,
): string[] {
  const r = q.rule;
  if (r === null || 'fn' in r) return [];
  const errors = checkNames(r);
  for (const [name, sel] of Object.entries(r.values)) {
    if (!experimentIds.has(sel.experiment))
      errors.push(`values.${name}.experiment '${sel.experiment}' is not an experiment id`);
    if (sel.consistency === undefined && sel.metric === undefined)
      errors.push(`values.${name} needs a metric (or consistency: agreeing | total | ok)`);
    if (sel.language?.startsWith('@') && !groups[sel.language.slice(1)])
      errors.push(
        `values.${name}.language '${sel.language}' names no language group (known: ${Object.keys(groups).join(', ') || 'none'})`,
      );
  }
  if (r.cases.every((c) => c.evidence === null) && r.evidence === null)
    errors.push('needs an evidence template (rule.evidence or cases[].evidence)');
  return errors;
}

/**
 * How replicates are reduced when a selector names no `across`: an interval's lower bound (`*_lo`)
 * by its minimum and its upper bound (`*_hi`) by its maximum — the worst replicate's interval —,
 * anything else by the mean.
 */
export function defaultAcross(metric: string | undefined): 'mean' | 'min' | 'max' {
  return metric?.endsWith('_lo') ? 'min' : metric?.endsWith('_hi') ? 'max' : 'mean';
}

/** The value a selector draws from the evidence; `rows` is how many metric rows it used. */
export function selectValue(sel: ValueSelector, src: EvidenceSource): { value: number; rows: number } {
  if (sel.consistency !== undefined) {
    const c = src.consistency(sel.experiment);
    if (!c) return { value: NaN, rows: 0 };
    return { value: sel.consistency === 'ok' ? (c.ok ? 1 : 0) : c[sel.consistency], rows: 1 };
  }
  const group = sel.language?.startsWith('@') ? new Set(src.groups[sel.language.slice(1)] ?? []) : null;
  const rows = src
    .metrics(sel.experiment)
    .filter(
      (m) =>
        m.metric === sel.metric &&
        (sel.model === undefined || m.model === sel.model) &&
        (sel.language === undefined ||
          (group ? m.language !== null && group.has(m.language) : m.language === sel.language)) &&
        (sel.replicate === undefined || m.replicate === sel.replicate),
    );
  if (rows.length === 0) return { value: NaN, rows: 0 };
  const byRep = new Map<number, number[]>();
  for (const r of rows) (byRep.get(r.replicate) ?? byRep.set(r.replicate, []).get(r.replicate)!).push(r.value);
  const within = sel.within ?? 'mean';
  const perRep = [...byRep.keys()].sort((a, b) => a - b).map((k) => reduce(byRep.get(k)!, within));
  const s = summarize(perRep);
  const across = sel.across ?? defaultAcross(sel.metric);
  const value =
    across === 'mean'
      ? s.mean
      : across === 'sd'
        ? s.sd
        : across === 'lo'
          ? s.lo
          : across === 'hi'
            ? s.hi
            : across === 'n'
              ? s.n
              : across === 'min'
                ? Math.min(...perRep)
                : Math.max(...perRep);
  return { value, rows: rows.length };
}

function reduce(xs: number[], how: (typeof WITHIN)[number]): number {
  switch (how) {
    case 'mean':
      return mean(xs);
    case 'median':
      return median(xs);
    case 'min':
      return Math.min(...xs);
    case 'max':
      return Math.max(...xs);
    case 'sum':
      return xs.reduce((a, b) => a + b, 0);
    case 'count':
      return xs.length;
  }
}

/** Decides one question: PENDING until every listed experiment has complete results, then its rule. */
export function evaluateQuestion(
  q: QuestionSpec,
  src: EvidenceSource,
  codeRules: (name: string) => QuestionRuleFn | undefined = () => undefined,
): QuestionVerdict {
  const verdict = (status: QuestionStatus, evidence: string): QuestionVerdict => ({
    id: q.id,
    question: q.question,
    status,
    evidence,
    experiments: [...q.experiments],
  });
  const waiting = q.experiments.filter((id) => !src.state(id)?.complete);
  if (waiting.length > 0) {
    const parts = waiting.map((id) => {
      const s = src.state(id);
      return s && s.status !== 'pending' ? `${id} (${s.status}${s.reason ? `: ${s.reason}` : ''})` : id;
    });
    return verdict('PENDING', `waiting for ${parts.join(', ')}`);
  }
  const rule = q.rule;
  if (rule === null) return verdict('PENDING', 'no decision rule in the pipeline file');
  if ('fn' in rule) {
    const fn = codeRules(rule.fn);
    if (!fn) return verdict('PENDING', `rule function '${rule.fn}' is not available`);
    const r = fn(src, rule.params);
    return verdict(r.status, r.evidence);
  }
  const env: Record<string, number> = { ...(rule.params ?? {}) };
  const missing: string[] = [];
  for (const [name, sel] of Object.entries(rule.values)) {
    const { value, rows } = selectValue(sel, src);
    env[name] = value;
    if (rows === 0)
      missing.push(
        `${name} (${sel.experiment}${sel.metric ? ` ${sel.metric}` : ''}${sel.model ? ` model ${sel.model}` : ''}${sel.language ? ` language ${sel.language}` : ''})`,
      );
  }
  if (missing.length > 0) return verdict('PENDING', `no stored values for ${missing.join(', ')}`);
  for (const c of rule.cases) {
    if (c.when === null || truthy(evalExpr(compileExpr(c.when).ast, env))) {
      const tpl = c.evidence ?? rule.evidence ?? '';
      return verdict(c.status, renderTemplate(tpl, env));
    }
  }
  return verdict('PENDING', `no case of the rule matched (${renderTemplate(rule.evidence ?? '', env)})`);
}
