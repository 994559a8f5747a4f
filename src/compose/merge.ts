// Merging several compose files (`-c a.yml -c b.yml`) as the Compose
// Specification says (https://docs.docker.com/reference/compose-file/merge/):
// - mappings merge key by key, later files winning on scalars;
// - sequences are appended (duplicates of `expose` and placement constraints
//   are dropped later; `ports` are kept unique by {target, published, protocol}
//   after parsing, the later entry winning);
// - `command`, `entrypoint` and `healthcheck.test` are replaced, not appended;
// - the two forms of labels, environment and a service's networks are merged
//   in their mapping form (`["A=b"]` is `{A: b}`, `[frontend]` is `{frontend:}`);
// - an empty value (`key:`) in a later file leaves the earlier value.
import type { CNode, Entry, MapNode } from "./tree.ts";

/** Paths whose value a later file replaces outright. */
const REPLACED = [
  /^services\.[^.]+\.(command|entrypoint)$/,
  /^services\.[^.]+\.healthcheck\.test$/,
];

/** Paths whose list form means a mapping (KEY=VALUE items, or bare names for networks). */
const LIST_AS_MAP: { pattern: RegExp; kind: "kv" | "names" }[] = [
  { pattern: /^services\.[^.]+\.(labels|environment|annotations|sysctls)$/, kind: "kv" },
  { pattern: /^services\.[^.]+\.deploy\.labels$/, kind: "kv" },
  { pattern: /^networks\.[^.]+\.labels$/, kind: "kv" },
  { pattern: /^services\.[^.]+\.networks$/, kind: "names" },
];

/** Turns list forms into mapping forms where the spec says they are the same thing.
 * Lists with items that are not strings are left alone for validation to report. */
export function normalize(node: CNode, path = ""): CNode {
  if (node.kind === "map") {
    const entries = new Map<string, Entry>();
    for (const [k, e] of node.entries) {
      const child = path ? `${path}.${k}` : k;
      entries.set(k, { keyPos: e.keyPos, value: normalize(e.value, child) });
    }
    return { ...node, entries };
  }
  if (node.kind !== "seq") return node;
  const rule = LIST_AS_MAP.find((r) => r.pattern.test(path));
  if (!rule) return { ...node, items: node.items.map((item) => normalize(item, `${path}[]`)) };
  if (node.items.some((i) => i.kind !== "scalar" || typeof i.value !== "string")) return node;
  const entries = new Map<string, Entry>();
  for (const item of node.items) {
    const text = String((item as { value: string }).value);
    if (rule.kind === "names") {
      entries.set(text, {
        keyPos: item.pos,
        value: { kind: "scalar", value: null, pos: item.pos },
      });
      continue;
    }
    const eq = text.indexOf("=");
    // `KEY` alone: for labels an empty value, for environment "take it from the shell"
    // (marked by null, as `KEY:` in the mapping form).
    const key = eq < 0 ? text : text.slice(0, eq);
    const value = eq < 0 ? (path.endsWith(".environment") ? null : "") : text.slice(eq + 1);
    entries.set(key, { keyPos: item.pos, value: { kind: "scalar", value, pos: item.pos } });
  }
  return { kind: "map", entries, pos: node.pos };
}

export function merge(base: CNode, over: CNode, path = ""): CNode {
  if (over.kind === "scalar" && over.value === null && !(base.kind === "scalar")) return base;
  if (REPLACED.some((r) => r.test(path))) return over;
  if (base.kind === "map" && over.kind === "map") {
    const entries = new Map<string, Entry>(base.entries);
    for (const [k, e] of over.entries) {
      const before = entries.get(k);
      const child = path ? `${path}.${k}` : k;
      entries.set(k, before ? { keyPos: e.keyPos, value: merge(before.value, e.value, child) } : e);
    }
    return { kind: "map", entries, pos: over.pos };
  }
  if (base.kind === "seq" && over.kind === "seq") {
    return { kind: "seq", items: [...base.items, ...over.items], pos: over.pos };
  }
  return over;
}

export function mergeAll(files: MapNode[]): MapNode {
  let out: CNode = { kind: "map", entries: new Map(), pos: files[0]!.pos };
  for (const f of files) out = merge(out, normalize(f));
  return out as MapNode;
}
