// Reading policy documents field by field, so every complaint can name the
// line and column of the node it is about. The compilers see documents only
// through these helpers, which read one of two forms:
// - precise: the `yaml` library's syntax tree, with a position for every node;
// - fast: plain values from js-yaml (about ten times faster on big files),
//   with positions for mappings and sequences only (enough for the origins
//   of policies and rules). A fast reading that finds any problem is thrown
//   away and the text read again precisely, so every error is the precise
//   reader's, at the exact line and column (load.ts).
import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  type LineCounter,
  type Node,
  type Pair,
  Scalar,
} from "yaml";
import { type Origin, PolicyError } from "./model.ts";

/** The file a node came from. */
export interface Source {
  file: string;
  text: string;
  /** Precise reading: the syntax tree. */
  precise?: { lines: LineCounter; doc: Document.Parsed };
  /** Fast reading: where js-yaml began reading each mapping and sequence
   * (before blanks, comments, anchors), and where lines start. */
  fast?: { starts: WeakMap<object, number>; lineStarts: number[] };
}

/** A node where it was written; `node` null for an empty value (`key:`),
 * and always null in a fast reading, where `value` is the plain value. */
export interface At {
  src: Source;
  node: Node | null;
  /** Offset to report when there is no node (the key that had no value) or
   * the value has no position of its own (a scalar in a fast reading). */
  offset: number;
  value?: unknown;
  /** Fast reading: the value this one is in. */
  parent?: At;
}

export function originAt(src: Source, offset: number): Origin {
  if (src.precise) {
    const { line, col } = src.precise.lines.linePos(offset);
    return { file: src.file, line, column: col };
  }
  // Fast: the last line starting at or before offset.
  const starts = src.fast?.lineStarts ?? [0];
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return { file: src.file, line: lo + 1, column: offset - starts[lo]! + 1 };
}

export function origin(at: At): Origin {
  if (at.src.fast) {
    // A scalar has no position of its own: its nearest enclosing collection's.
    for (let a: At | undefined = at; a; a = a.parent) {
      const start = startOf(a);
      if (start !== undefined) return originAt(at.src, start);
    }
    return originAt(at.src, at.offset);
  }
  return originAt(at.src, at.node?.range?.[0] ?? at.offset);
}

function startOf(at: At): number | undefined {
  const v = at.value;
  if (typeof v !== "object" || v === null) return undefined;
  const began = at.src.fast?.starts.get(v);
  return began === undefined ? undefined : skipToContent(at.src.text, began);
}

/** The first character of a node's own text: after blanks, comments and its
 * anchor or tag (js-yaml reports where it began looking). */
function skipToContent(text: string, at: number): number {
  let i = at;
  for (;;) {
    while (i < text.length && /\s/.test(text[i]!)) i++;
    if (text[i] === "#") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (text[i] === "&" || text[i] === "!") {
      while (i < text.length && !/\s/.test(text[i]!)) i++;
    } else return i;
  }
}

/** A child of a fast-read value: it has a position if it is a mapping or
 * sequence; a scalar reports its parent's. */
function child(at: At, value: unknown): At {
  return { src: at.src, node: null, offset: at.offset, value, parent: at };
}

function isPlainMap(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function fail(at: At, message: string): never {
  throw new PolicyError(message, origin(at));
}

/** Follows `*alias` to its anchor's node; the position stays the alias's. */
function resolve(at: At): Node | null {
  let node = at.node;
  for (let hops = 0; isAlias(node); hops++) {
    if (hops > 100) fail(at, "alias loop");
    node = (node.resolve(at.src.precise!.doc) as Node | undefined) ?? null;
  }
  return node;
}

/** Null, `~` and an empty value are all "not given", as Go's decoders read them. */
export function isAbsent(at: At | undefined): boolean {
  if (!at) return true;
  if (at.src.fast) return at.value === null || at.value === undefined;
  const node = resolve(at);
  return node === null || (isScalar(node) && node.value === null);
}

export interface Fields {
  /** The map itself. */
  at: At;
  /** Given (non-null) fields by name. */
  get(name: string): At | undefined;
  /** The key node of a field, to point at the field name rather than its value. */
  key(name: string): At;
}

/**
 * Reads a mapping whose keys must all be in `known`. A key in `unsupported`
 * is a feature swarmnet rejects rather than ignores (the message says why).
 */
export function fields(
  at: At,
  what: string,
  known: readonly string[],
  unsupported: Record<string, string> = {},
): Fields {
  if (at.src.fast) return fastFields(at, what, known, unsupported);
  const node = resolve(at);
  if (!isMap(node)) fail(at, `${what} must be a mapping`);
  const values = new Map<string, At>();
  const keys = new Map<string, At>();
  for (const pair of node.items as Pair<unknown, unknown>[]) {
    const keyAt: At = { src: at.src, node: pair.key as Node | null, offset: at.offset };
    const key = resolve(keyAt);
    if (!isScalar(key) || typeof key.value !== "string")
      fail(keyAt, `${what}: keys must be strings`);
    const name = key.value;
    if (name in unsupported) fail(keyAt, `${what}: ${name} ${unsupported[name]}`);
    if (!known.includes(name)) {
      fail(keyAt, `${what}: unknown field "${name}" (known: ${known.join(", ")})`);
    }
    // An empty value has no node of its own: point just after the key.
    const valueAt: At = {
      src: at.src,
      node: pair.value as Node | null,
      offset: key.range?.[1] ?? at.offset,
    };
    keys.set(name, keyAt);
    if (!isAbsent(valueAt)) values.set(name, valueAt);
  }
  return {
    at,
    get: (name) => values.get(name),
    key: (name) => keys.get(name) ?? at,
  };
}

function fastFields(
  at: At,
  what: string,
  known: readonly string[],
  unsupported: Record<string, string>,
): Fields {
  if (!isPlainMap(at.value)) fail(at, `${what} must be a mapping`);
  const values = new Map<string, At>();
  for (const [name, value] of Object.entries(at.value)) {
    if (name in unsupported) fail(at, `${what}: ${name} ${unsupported[name]}`);
    if (!known.includes(name)) fail(at, `${what}: unknown field "${name}"`);
    const valueAt = child(at, value);
    if (!isAbsent(valueAt)) values.set(name, valueAt);
  }
  return { at, get: (name) => values.get(name), key: () => at };
}

/** One field of a mapping, without judging the others (to look at `kind`
 * before knowing which fields are allowed). */
export function peekField(at: At, name: string): At | undefined {
  if (at.src.fast) {
    if (!isPlainMap(at.value)) fail(at, "a policy document must be a mapping");
    const value = child(at, at.value[name]);
    return isAbsent(value) ? undefined : value;
  }
  const node = resolve(at);
  if (!isMap(node)) fail(at, "a policy document must be a mapping");
  for (const pair of node.items as Pair<unknown, unknown>[]) {
    const key = pair.key as Node | null;
    if (isScalar(key) && key.value === name) {
      const value: At = {
        src: at.src,
        node: pair.value as Node | null,
        offset: key.range?.[1] ?? 0,
      };
      return isAbsent(value) ? undefined : value;
    }
  }
  return undefined;
}

export function list(at: At, what: string): At[] {
  if (at.src.fast) {
    if (!Array.isArray(at.value)) fail(at, `${what} must be a list`);
    return at.value.map((item) => child(at, item));
  }
  const node = resolve(at);
  if (!isSeq(node)) fail(at, `${what} must be a list`);
  return node.items.map((item) => ({
    src: at.src,
    node: item as Node | null,
    offset: node.range?.[0] ?? at.offset,
  }));
}

export function scalar(at: At): unknown {
  if (at.src.fast) return typeof at.value === "object" && at.value !== null ? undefined : at.value;
  const node = resolve(at);
  return isScalar(node) ? node.value : undefined;
}

export function string(at: At, what: string): string {
  const value = scalar(at);
  if (typeof value !== "string") fail(at, `${what} must be a string`);
  return value;
}

export function number(at: At, what: string): number {
  const value = scalar(at);
  if (typeof value !== "number" || !Number.isFinite(value)) fail(at, `${what} must be a number`);
  return value;
}

export function integer(at: At, what: string, min: number, max: number): number {
  const value = number(at, what);
  if (!Number.isInteger(value) || value < min || value > max) {
    fail(at, `${what} must be an integer from ${min} to ${max}`);
  }
  return value;
}

export function boolean(at: At, what: string): boolean {
  const value = scalar(at);
  if (typeof value !== "boolean") fail(at, `${what} must be true or false`);
  return value;
}

/** A string→string mapping (labels, annotations). */
export function stringMap(at: At, what: string): Map<string, { key: At; value: At; text: string }> {
  if (at.src.fast) {
    if (!isPlainMap(at.value)) fail(at, `${what} must be a mapping`);
    const out = new Map<string, { key: At; value: At; text: string }>();
    for (const [name, v] of Object.entries(at.value)) {
      const value = child(at, v);
      out.set(name, { key: at, value, text: string(value, `${what} "${name}"`) });
    }
    return out;
  }
  const node = resolve(at);
  if (!isMap(node)) fail(at, `${what} must be a mapping`);
  const out = new Map<string, { key: At; value: At; text: string }>();
  for (const pair of node.items as Pair<unknown, unknown>[]) {
    const key: At = { src: at.src, node: pair.key as Node | null, offset: at.offset };
    const name = string(key, `${what} key`);
    const value: At = { src: at.src, node: pair.value as Node | null, offset: at.offset };
    out.set(name, { key, value, text: string(value, `${what} "${name}"`) });
  }
  return out;
}

/**
 * The origin of character `index` of a string scalar's value, so a selector
 * error can point inside the string. Exact for one-line plain and quoted
 * scalars without escapes and for literal blocks (`|`); otherwise the start
 * of the node.
 */
export function originInString(at: At, index: number): Origin {
  if (at.src.fast) return origin(at);
  const node = resolve(at);
  if (!node || !isScalar(node) || typeof node.value !== "string") return origin(at);
  // "Unexpected end" errors point just past the last character that is there.
  const last = node.value.trimEnd().length;
  const offset =
    index >= last && last > 0
      ? plusOne(offsetInScalar(at.src.text, node, last - 1))
      : offsetInScalar(at.src.text, node, index);
  return offset === undefined ? origin(at) : originAt(at.src, offset);
}

function plusOne(offset: number | undefined): number | undefined {
  return offset === undefined ? undefined : offset + 1;
}

function offsetInScalar(text: string, node: Scalar, index: number): number | undefined {
  const value = node.value;
  const [start, end] = node.range ?? [];
  if (typeof value !== "string" || start === undefined || end === undefined) return undefined;
  const raw = text.slice(start, end);
  switch (node.type) {
    case Scalar.PLAIN:
      return raw === value ? start + index : undefined;
    case Scalar.QUOTE_SINGLE:
    case Scalar.QUOTE_DOUBLE:
      return raw.slice(1, -1) === value ? start + 1 + index : undefined;
    case Scalar.BLOCK_LITERAL:
      return offsetInLiteral(raw, start, value, index);
    default:
      return undefined;
  }
}

function offsetInLiteral(
  raw: string,
  start: number,
  value: string,
  index: number,
): number | undefined {
  const before = value.slice(0, index).split("\n");
  const line = before.length - 1;
  const column = before[line]!.length;
  // Source lines after the `|` header; the indentation is that of the first
  // line with content (blank lines inside a literal keep their place).
  const lines = raw.split("\n");
  const body = lines.slice(1);
  const first = body.find((l) => l.trim() !== "");
  if (first === undefined || line >= body.length) return undefined;
  const indent = first.length - first.trimStart().length;
  let offset = start + lines[0]!.length + 1;
  for (let i = 0; i < line; i++) offset += body[i]!.length + 1;
  offset += indent + column;
  // Only trust the mapping if it lands on the same character.
  return raw[offset - start] === value[index] ? offset : undefined;
}
