// Calico's label selector language: parse, match and print.
//
//   expr    := and ("||" and)*
//   and     := unary ("&&" unary)*
//   unary   := "!" unary | "(" expr ")" | "all()" | "has(" key ")" | key op
//   op      := "==" str | "!=" str | "in" set | "not in" set
//            | "contains" str | "starts with" str | "ends with" str
//   set     := "{" [str ("," str)*] "}"
//   str     := '"' chars '"' | "'" chars "'"      (no escapes, as in Calico)
//
// So `!` binds tighter than `&&`, which binds tighter than `||`. Keys are
// label keys: letters, digits and `_ . / -`. An empty (or all-blank) selector
// is `all()`, as Calico reads it.
import type { Selector } from "./model.ts";

export class SelectorSyntaxError extends Error {
  /** 1-based position within the selector text. */
  readonly column: number;
  constructor(message: string, column: number) {
    super(message);
    this.name = "SelectorSyntaxError";
    this.column = column;
  }
}

const KEY_CHAR = /[A-Za-z0-9_./-]/;
const SPACE = /\s/;

/** A cursor over the text; every method skips leading blanks first. */
class Scanner {
  readonly text: string;
  pos = 0;
  constructor(text: string) {
    this.text = text;
  }
  skip(): void {
    while (this.pos < this.text.length && SPACE.test(this.text[this.pos]!)) this.pos++;
  }
  atEnd(): boolean {
    this.skip();
    return this.pos >= this.text.length;
  }
  /** Consumes `symbol` if it comes next. */
  eat(symbol: string): boolean {
    this.skip();
    if (!this.text.startsWith(symbol, this.pos)) return false;
    this.pos += symbol.length;
    return true;
  }
  /** The next run of key characters, without consuming it. */
  peekWord(): string {
    this.skip();
    let end = this.pos;
    while (end < this.text.length && KEY_CHAR.test(this.text[end]!)) end++;
    return this.text.slice(this.pos, end);
  }
  /** Consumes `word` if it is the whole next word (so `in` does not eat `index`). */
  eatWord(word: string): boolean {
    if (this.peekWord() !== word) return false;
    this.pos += word.length;
    return true;
  }
  /** Whether `symbol` follows the next word (for `has(` and `all(` lookahead). */
  followsWord(word: string, symbol: string): boolean {
    if (this.peekWord() !== word) return false;
    let at = this.pos + word.length;
    while (at < this.text.length && SPACE.test(this.text[at]!)) at++;
    return this.text.startsWith(symbol, at);
  }
  fail(message: string, at = this.pos): never {
    throw new SelectorSyntaxError(message, at + 1);
  }
  /** What is next, for messages. */
  describe(): string {
    this.skip();
    if (this.pos >= this.text.length) return "end of selector";
    const word = this.peekWord();
    return `'${word || this.text[this.pos]}'`;
  }
}

export function parseSelector(text: string): Selector {
  const s = new Scanner(text);
  if (s.atEnd()) return { op: "all" };
  const sel = parseOr(s);
  if (!s.atEnd()) s.fail(`unexpected ${s.describe()}: expected '&&', '||' or the end`);
  return sel;
}

/** Builds an n-ary node, flattening same-op children so `(a && b) && c`
 * and `a && b && c` are one shape (and print back the same). */
function nary(op: "and" | "or", args: Selector[]): Selector {
  if (args.length === 1) return args[0]!;
  return { op, args: args.flatMap((a) => (a.op === op ? a.args : [a])) };
}

function parseOr(s: Scanner): Selector {
  const args = [parseAnd(s)];
  while (s.eat("||")) args.push(parseAnd(s));
  return nary("or", args);
}

function parseAnd(s: Scanner): Selector {
  const args = [parseUnary(s)];
  while (s.eat("&&")) args.push(parseUnary(s));
  return nary("and", args);
}

function parseUnary(s: Scanner): Selector {
  s.skip();
  // `!=` is never at the start of an operand, so a `!` here is negation.
  if (s.eat("!")) return { op: "not", arg: parseUnary(s) };
  const open = s.pos;
  if (s.eat("(")) {
    const inner = parseOr(s);
    if (!s.eat(")")) s.fail(`unexpected ${s.describe()}: expected ')' to close '(' at ${open + 1}`);
    return inner;
  }
  if (s.followsWord("all", "(")) {
    s.eatWord("all");
    s.eat("(");
    if (!s.eat(")")) s.fail(`unexpected ${s.describe()}: all() takes no argument`);
    return { op: "all" };
  }
  if (s.followsWord("has", "(")) {
    s.eatWord("has");
    s.eat("(");
    const key = parseKey(s);
    if (!s.eat(")")) s.fail(`unexpected ${s.describe()}: expected ')' after the label key`);
    return { op: "has", key };
  }
  const key = parseKey(s);
  return parseOperation(s, key);
}

function parseKey(s: Scanner): string {
  const key = s.peekWord();
  if (!key) s.fail(`unexpected ${s.describe()}: expected a label key, '!', '(', has() or all()`);
  s.pos += key.length;
  return key;
}

function parseOperation(s: Scanner, key: string): Selector {
  s.skip();
  if (s.eat("==")) return { op: "eq", key, value: parseString(s) };
  if (s.eat("!=")) return { op: "ne", key, value: parseString(s) };
  if (s.eatWord("in")) return { op: "in", key, values: parseSet(s) };
  const at = s.pos;
  if (s.eatWord("not")) {
    if (!s.eatWord("in")) s.fail(`unexpected ${s.describe()}: expected 'in' after 'not'`);
    return { op: "notin", key, values: parseSet(s) };
  }
  if (s.eatWord("contains")) return { op: "contains", key, value: parseString(s) };
  if (s.eatWord("starts")) {
    if (!s.eatWord("with")) s.fail(`unexpected ${s.describe()}: expected 'with' after 'starts'`);
    return { op: "startswith", key, value: parseString(s) };
  }
  if (s.eatWord("ends")) {
    if (!s.eatWord("with")) s.fail(`unexpected ${s.describe()}: expected 'with' after 'ends'`);
    return { op: "endswith", key, value: parseString(s) };
  }
  return s.fail(
    `unexpected ${s.describe()} after label '${key}': expected ==, !=, in, not in, contains, starts with or ends with`,
    at,
  );
}

function parseString(s: Scanner): string {
  s.skip();
  const quote = s.text[s.pos];
  if (quote !== '"' && quote !== "'") {
    return s.fail(`unexpected ${s.describe()}: expected a quoted string`);
  }
  const end = s.text.indexOf(quote, s.pos + 1);
  if (end < 0) s.fail("unterminated string");
  const value = s.text.slice(s.pos + 1, end);
  s.pos = end + 1;
  return value;
}

function parseSet(s: Scanner): string[] {
  if (!s.eat("{")) s.fail(`unexpected ${s.describe()}: expected '{'`);
  const values: string[] = [];
  if (s.eat("}")) return values;
  do values.push(parseString(s));
  while (s.eat(","));
  if (!s.eat("}")) s.fail(`unexpected ${s.describe()}: expected ',' or '}'`);
  return values;
}

/** Calico's matching: `!=` and `not in` hold when the label is absent;
 * every other comparison needs it present. */
export function matchesSelector(sel: Selector, labels: Record<string, string>): boolean {
  switch (sel.op) {
    case "all":
      return true;
    case "has":
      return Object.hasOwn(labels, sel.key);
    case "not":
      return !matchesSelector(sel.arg, labels);
    case "and":
      return sel.args.every((a) => matchesSelector(a, labels));
    case "or":
      return sel.args.some((a) => matchesSelector(a, labels));
  }
  const value = Object.hasOwn(labels, sel.key) ? labels[sel.key] : undefined;
  switch (sel.op) {
    case "eq":
      return value === sel.value;
    case "ne":
      return value !== sel.value;
    case "in":
      return value !== undefined && sel.values.includes(value);
    case "notin":
      return value === undefined || !sel.values.includes(value);
    case "contains":
      return value?.includes(sel.value) ?? false;
    case "startswith":
      return value?.startsWith(sel.value) ?? false;
    case "endswith":
      return value?.endsWith(sel.value) ?? false;
  }
}

/** Canonical text: single spaces, double quotes (single when the value holds
 * a double quote), parentheses only where precedence needs them. Parsing it
 * gives the same selector back. */
export function formatSelector(sel: Selector): string {
  switch (sel.op) {
    case "all":
      return "all()";
    case "has":
      return `has(${sel.key})`;
    case "eq":
      return `${sel.key} == ${quote(sel.value)}`;
    case "ne":
      return `${sel.key} != ${quote(sel.value)}`;
    case "in":
      return `${sel.key} in ${formatSet(sel.values)}`;
    case "notin":
      return `${sel.key} not in ${formatSet(sel.values)}`;
    case "contains":
      return `${sel.key} contains ${quote(sel.value)}`;
    case "startswith":
      return `${sel.key} starts with ${quote(sel.value)}`;
    case "endswith":
      return `${sel.key} ends with ${quote(sel.value)}`;
    case "not": {
      const inner = formatSelector(sel.arg);
      // `!k == "v"` parses the same but reads as if `!` applied to the key.
      const bare = sel.arg.op === "has" || sel.arg.op === "all" || sel.arg.op === "not";
      return bare ? `!${inner}` : `!(${inner})`;
    }
    case "and":
      return sel.args
        .map((a) => (a.op === "or" ? `(${formatSelector(a)})` : formatSelector(a)))
        .join(" && ");
    case "or":
      return sel.args.map(formatSelector).join(" || ");
  }
}

function quote(value: string): string {
  return value.includes('"') ? `'${value}'` : `"${value}"`;
}

function formatSet(values: string[]): string {
  return values.length === 0 ? "{}" : `{${values.map(quote).join(", ")}}`;
}
