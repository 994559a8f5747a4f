// The part of Go's text/template that `docker ... --format` users write:
// `{{.Field.Sub}}`, `{{json .X}}`, `{{index .Labels "k"}}`, `{{range .List}}...{{end}}`,
// `{{join .List ", "}}`, `{{upper .X}}`, `{{lower .X}}`, `{{len .X}}`, `{{println}}`,
// pipes into those functions (`{{.X | json}}`), and Docker's `\t` / `\n` escapes.
import { invalid } from "../core/errors.ts";

type Node =
  | { kind: "text"; text: string }
  | { kind: "expr"; expr: string }
  | { kind: "range"; expr: string; body: Node[] };

function parse(format: string): Node[] {
  const root: Node[] = [];
  const stack: Node[][] = [root];
  const re = /\{\{(-\s)?\s*(.*?)\s*(\s-)?\}\}/gs;
  let last = 0;
  let trimNext = false;
  for (const m of format.matchAll(re)) {
    let text = format.slice(last, m.index);
    // Go's trim markers: "{{- " eats the whitespace before, " -}}" the whitespace after.
    if (trimNext) text = text.trimStart();
    if (m[1]) text = text.trimEnd();
    if (text) stack.at(-1)!.push({ kind: "text", text });
    last = m.index + m[0].length;
    trimNext = m[3] !== undefined;
    const action = m[2]!;
    if (action.startsWith("range ")) {
      const node: Node = { kind: "range", expr: action.slice(6).trim(), body: [] };
      stack.at(-1)!.push(node);
      stack.push(node.body);
    } else if (action === "end") {
      if (stack.length === 1) throw invalid(`template: unexpected {{end}} in "${format}"`);
      stack.pop();
    } else stack.at(-1)!.push({ kind: "expr", expr: action });
  }
  if (stack.length !== 1)
    throw invalid(`template: unexpected EOF (missing {{end}}) in "${format}"`);
  const tail = trimNext ? format.slice(last).trimStart() : format.slice(last);
  if (tail) root.push({ kind: "text", text: tail });
  return root;
}

function tokens(expr: string): string[] {
  return [...expr.matchAll(/"(?:[^"\\]|\\.)*"|[^\s]+/g)].map((m) => m[0]);
}

function field(dot: unknown, path: string): unknown {
  if (path === ".") return dot;
  let value: unknown = dot;
  for (const part of path.slice(1).split(".")) {
    if (value === null || typeof value !== "object") {
      throw invalid(
        `template: can't evaluate field ${part} in type ${value === null ? "nil" : typeof value}`,
      );
    }
    if (!(part in (value as object))) throw invalid(`template: can't evaluate field ${part}`);
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function arg(dot: unknown, tok: string): unknown {
  if (tok.startsWith('"')) return JSON.parse(tok);
  if (/^-?\d+$/.test(tok)) return Number(tok);
  if (tok.startsWith(".")) return field(dot, tok);
  throw invalid(`template: unknown argument "${tok}"`);
}

const FUNCS: Record<string, (...args: unknown[]) => unknown> = {
  json: (v) => JSON.stringify(v),
  index: (v, k) => (v as Record<string, unknown> | undefined)?.[k as string],
  join: (v, sep) => {
    if (!Array.isArray(v)) throw invalid("template: join: the argument is not a list");
    return v.map(show).join(String(sep));
  },
  upper: (v) => String(v).toUpperCase(),
  lower: (v) => String(v).toLowerCase(),
  len: (v) => {
    if (typeof v === "string" || Array.isArray(v)) return v.length;
    if (v && typeof v === "object") return Object.keys(v).length;
    throw invalid(`template: len of ${typeof v}`);
  },
  println: (...v) => `${v.map(show).join(" ")}\n`,
};

function evalCommand(dot: unknown, words: string[], piped?: unknown[]): unknown {
  const [head, ...rest] = words;
  if (head === undefined) throw invalid("template: empty command");
  const args = [...rest.map((t) => arg(dot, t)), ...(piped ?? [])];
  const fn = FUNCS[head];
  if (fn) return fn(...args);
  if (rest.length || piped) throw invalid(`template: function "${head}" not defined`);
  return arg(dot, head);
}

function evaluate(dot: unknown, expr: string): unknown {
  let value: unknown[] | undefined;
  for (const part of expr.split("|")) value = [evalCommand(dot, tokens(part.trim()), value)];
  return value?.[0];
}

/** Go's %v, roughly: maps as map[k:v], lists as [a b], nil as <no value>. */
function show(v: unknown): string {
  if (v === undefined) return "<no value>";
  if (v === null) return "<nil>";
  if (Array.isArray(v)) return `[${v.map(show).join(" ")}]`;
  if (typeof v === "object") {
    const entries = Object.entries(v as object).sort(([a], [b]) => a.localeCompare(b));
    return `map[${entries.map(([k, x]) => `${k}:${show(x)}`).join(" ")}]`;
  }
  return String(v);
}

function render(nodes: Node[], dot: unknown): string {
  let out = "";
  for (const n of nodes) {
    if (n.kind === "text") out += n.text;
    else if (n.kind === "expr") out += show(evaluate(dot, n.expr));
    else {
      const list = evaluate(dot, n.expr);
      const items = Array.isArray(list)
        ? list
        : list && typeof list === "object"
          ? Object.entries(list) // Go ranges over a map in sorted key order.
              .sort(([a], [b]) => a.localeCompare(b))
              .map(([, v]) => v)
          : [];
      for (const item of items) out += render(n.body, item);
    }
  }
  return out;
}

export function compileTemplate(format: string): (dot: unknown) => string {
  const nodes = parse(format.replaceAll("\\t", "\t").replaceAll("\\n", "\n"));
  return (dot) => render(nodes, dot);
}
