// A compose file as a small tree of plain values that remember where they
// were written, so every later complaint can name file:line:column. String
// values are interpolated while the tree is built (keys never are); anchors,
// aliases and `<<` merge keys are resolved here.
import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
} from "yaml";
import { ComposeError, type Position } from "./errors.ts";
import { type InterpolationContext, InterpolationError, interpolate } from "./interpolate.ts";

export type Scalar = string | number | boolean | null;

export interface ScalarNode {
  kind: "scalar";
  value: Scalar;
  pos: Position;
}
export interface SeqNode {
  kind: "seq";
  items: CNode[];
  pos: Position;
}
export interface Entry {
  keyPos: Position;
  value: CNode;
}
export interface MapNode {
  kind: "map";
  entries: Map<string, Entry>;
  pos: Position;
}
export type CNode = ScalarNode | SeqNode | MapNode;

export function fail(pos: Position | undefined, message: string): never {
  throw new ComposeError(message, pos);
}

/** Reads one file; an empty file is an empty mapping. */
export function readFile(file: string, text: string, ctx: InterpolationContext): MapNode {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, merge: true, uniqueKeys: true });
  const at = (offset: number): Position => {
    const { line, col } = lines.linePos(offset);
    return { file, line, column: col };
  };
  const error = doc.errors[0];
  if (error)
    fail(
      at(error.pos[0]),
      error.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, ""),
    );
  const reader = new Reader(doc, at, ctx);
  const root = doc.contents as Node | null;
  if (root === null || (isScalar(root) && root.value === null)) {
    return { kind: "map", entries: new Map(), pos: at(0) };
  }
  const tree = reader.node(root, "", 0);
  if (tree.kind !== "map") fail(tree.pos, "Top-level object must be a mapping");
  return tree;
}

class Reader {
  private doc: Document.Parsed;
  private at: (offset: number) => Position;
  private ctx: InterpolationContext;
  constructor(doc: Document.Parsed, at: (offset: number) => Position, ctx: InterpolationContext) {
    this.doc = doc;
    this.at = at;
    this.ctx = ctx;
  }

  private resolve(node: Node | null, offset: number): Node | null {
    let n = node;
    for (let hops = 0; isAlias(n); hops++) {
      if (hops > 100) fail(this.at(offset), "alias loop");
      n = (n.resolve(this.doc) as Node | undefined) ?? null;
    }
    return n;
  }

  node(raw: Node | null, path: string, offset: number): CNode {
    const start = raw?.range?.[0] ?? offset;
    const pos = this.at(start);
    const node = this.resolve(raw, start);
    if (node === null) return { kind: "scalar", value: null, pos };
    if (isScalar(node)) {
      let value = node.value as unknown;
      if (typeof value === "string") {
        try {
          value = interpolate(value, this.ctx);
        } catch (e) {
          if (e instanceof InterpolationError) fail(pos, `${path}: ${e.message}`);
          throw e;
        }
      } else if (typeof value === "bigint") value = Number(value);
      else if (value instanceof Date) value = (node.source as string | undefined) ?? String(value);
      else if (value !== null && typeof value !== "number" && typeof value !== "boolean") {
        value = String(node.source ?? value);
      }
      return { kind: "scalar", value: value as Scalar, pos };
    }
    if (isSeq(node)) {
      return {
        kind: "seq",
        items: node.items.map((item, i) => this.node(item as Node | null, `${path}[${i}]`, start)),
        pos,
      };
    }
    if (isMap(node)) {
      const entries = new Map<string, Entry>();
      const merged: MapNode[] = [];
      for (const pair of node.items) {
        const keyRaw = pair.key as Node | null;
        const keyStart = keyRaw?.range?.[0] ?? start;
        const keyPos = this.at(keyStart);
        const key = this.resolve(keyRaw, keyStart);
        if (isScalar(key) && typeof key.value === "symbol") {
          // `<<: *anchor` or `<<: [*a, *b]`: entries not written here come from the anchors.
          const source = this.node(pair.value as Node | null, path, keyStart);
          for (const m of source.kind === "seq" ? source.items : [source]) {
            if (m.kind !== "map")
              fail(m.pos, `${path || "<root>"}: a merge key (<<) needs a mapping`);
            merged.push(m);
          }
          continue;
        }
        if (!isScalar(key) || key.value === null || typeof key.value === "object") {
          fail(keyPos, `${path || "<root>"}: keys must be strings`);
        }
        const name = String(key.value);
        const valueOffset = key.range?.[1] ?? keyStart;
        const value = this.node(
          pair.value as Node | null,
          path ? `${path}.${name}` : name,
          valueOffset,
        );
        entries.set(name, { keyPos, value });
      }
      for (const m of merged) {
        for (const [k, e] of m.entries) if (!entries.has(k)) entries.set(k, e);
      }
      return { kind: "map", entries, pos };
    }
    return fail(pos, `${path}: unsupported YAML node`);
  }
}
