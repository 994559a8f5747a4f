// Reading the value tree (tree.ts): the Loader, which sorts a mapping's keys
// into read, not applied and refused, and small typed readers that fail with
// the value's position and its compose path.
import { isSwarmnetError } from "../core/errors.ts";
import { ComposeError, type Position } from "./errors.ts";
import { UNSUPPORTED } from "./keys.ts";
import type { CNode, MapNode, ScalarNode } from "./tree.ts";

export class Loader {
  notApplied = new Set<string>();
  warnings: string[] = [];

  /** The entries of a mapping this code reads; `x-` keys are skipped, spec keys
   * outside `read` recorded as not applied, anything else refused. */
  fields(node: CNode, path: string, known: string[], read: string[]): Map<string, CNode> {
    const map0 = asMap(node, path);
    for (const [k, e] of map0.entries) {
      const why = UNSUPPORTED[path ? `${path.replace(/^services\.[^.]+/, "services.*")}.${k}` : k];
      if (why) fail(e.keyPos, `${path ? `${path}.` : ""}${k}: ${why}`);
    }
    const map = asMap(node, path);
    const out = new Map<string, CNode>();
    for (const [k, e] of map.entries) {
      if (k.startsWith("x-")) continue;
      const child = path ? `${path}.${k}` : k;
      if (!known.includes(k))
        fail(e.keyPos, `${path || "(root)"} Additional property ${k} is not allowed`);
      if (!read.includes(k)) {
        this.notApplied.add(child);
        continue;
      }
      out.set(k, e.value);
    }
    return out;
  }
}

export function fail(pos: Position | undefined, message: string): never {
  throw new ComposeError(message, pos);
}

/** Runs a check from src/core and gives its complaint a position. */
export function at<T>(pos: Position, what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (isSwarmnetError(e)) fail(pos, what ? `${what}: ${e.message}` : e.message);
    throw e;
  }
}

export function isNull(node: CNode | undefined): boolean {
  return node === undefined || (node.kind === "scalar" && node.value === null);
}

export function asMap(node: CNode, path: string): MapNode {
  if (isNull(node)) return { kind: "map", entries: new Map(), pos: node.pos };
  if (node.kind !== "map") fail(node.pos, `${path} must be a mapping`);
  return node;
}

function scalar(node: CNode, path: string): ScalarNode {
  if (node.kind !== "scalar") fail(node.pos, `${path} must be a string`);
  return node;
}

export function str(node: CNode, path: string): string {
  const v = scalar(node, path).value;
  if (typeof v === "boolean" || v === null) fail(node.pos, `${path} must be a string`);
  return String(v);
}

/** A value of a string mapping (labels, environment, driver options): numbers
 * and booleans are taken as written, as compose does. */
export function text(node: CNode, path: string): string {
  const v = scalar(node, path).value;
  return v === null ? "" : String(v);
}

export function bool(node: CNode, path: string): boolean {
  const v = scalar(node, path).value;
  if (typeof v === "boolean") return v;
  if (v === "true" || v === "false") return v === "true";
  return fail(node.pos, `${path} must be a boolean`);
}

export function uint(node: CNode, path: string): number {
  const v = scalar(node, path).value;
  const text = String(v);
  if ((typeof v !== "number" && typeof v !== "string") || !/^\d+$/.test(text)) {
    fail(node.pos, `${path} must be a non-negative integer`);
  }
  return Number(text);
}

export function strList(node: CNode, path: string): { value: string; pos: Position }[] {
  if (node.kind !== "seq") fail(node.pos, `${path} must be a list`);
  return node.items.map((item, i) => ({ value: str(item, `${path}.${i}`), pos: item.pos }));
}

/** A KEY=VALUE list or a mapping (after normalize, always a mapping). */
export function stringMap(node: CNode, path: string): Record<string, string> {
  if (isNull(node)) return {};
  if (node.kind === "seq")
    fail(node.pos, `${path} must be a mapping or a list of KEY=VALUE strings`);
  const out: Record<string, string> = {};
  for (const [k, e] of asMap(node, path).entries) {
    out[k] = text(e.value, `${path}.${k}`);
  }
  return out;
}
