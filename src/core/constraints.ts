// Placement constraints, as swarmkit parses and matches them:
// `node.hostname==X`, `node.id!=Y`, `node.role==manager`, `node.labels.K==V`,
// `node.platform.os==linux`. Values compare case-insensitively except labels,
// as in swarmkit.
import { invalid } from "./errors.ts";
import type { Node } from "./model.ts";

export interface Constraint {
  key: string;
  op: "==" | "!=";
  value: string;
}

const KEY_PATTERN = /^(?:[a-zA-Z0-9_.-]+)$/;
const VALUE_PATTERN = /^(?:[a-zA-Z0-9_\-.*/:]+)$/;
const KNOWN_KEYS = new Set([
  "node.id",
  "node.hostname",
  "node.role",
  "node.platform.os",
  "node.platform.arch",
]);

export function parseConstraint(text: string): Constraint {
  const ops = [...text.matchAll(/==|!=/g)];
  if (ops.length !== 1)
    throw invalid(`invalid constraint '${text}': constraint expected one operator from ==, !=`);
  const match = ops[0]!;
  const op = match[0] as "==" | "!=";
  const key = text.slice(0, match.index).trim();
  const value = text.slice(match.index! + 2).trim();
  if (!KEY_PATTERN.test(key))
    throw invalid(`invalid constraint '${text}': key '${key}' is invalid`);
  if (!VALUE_PATTERN.test(value))
    throw invalid(`invalid constraint '${text}': value '${value}' is invalid`);
  const isLabel = /^(node|engine)\.labels\.[^.].*$/.test(key);
  if (!isLabel && !KNOWN_KEYS.has(key.toLowerCase())) {
    throw invalid(
      `invalid constraint '${text}': unknown key '${key}' (use node.id, node.hostname, node.role, node.platform.os, node.platform.arch or node.labels.<name>)`,
    );
  }
  if (key.toLowerCase() === "node.role" && !["manager", "worker"].includes(value.toLowerCase())) {
    throw invalid(`invalid constraint '${text}': node.role must be manager or worker`);
  }
  return { key, op, value };
}

export function parseConstraints(texts: string[]): Constraint[] {
  return texts.map(parseConstraint);
}

function nodeValue(node: Node, key: string): string | undefined {
  const lower = key.toLowerCase();
  if (lower === "node.id") return node.id;
  if (lower === "node.hostname") return node.hostname;
  if (lower === "node.role") return node.role;
  if (lower === "node.platform.os") return "linux";
  if (lower === "node.platform.arch") return process.arch === "x64" ? "x86_64" : process.arch;
  const label = /^(?:node|engine)\.labels\.(.+)$/.exec(key);
  if (label) return node.labels[label[1]!];
  return undefined;
}

/** Whether a node satisfies every constraint. A missing label fails `==` and passes `!=`. */
export function nodeMatches(node: Node, constraints: Constraint[]): boolean {
  return constraints.every((c) => {
    const actual = nodeValue(node, c.key);
    const isLabel = c.key.toLowerCase().includes(".labels.");
    const equal =
      actual !== undefined &&
      (isLabel ? actual === c.value : actual.toLowerCase() === c.value.toLowerCase());
    return c.op === "==" ? equal : !equal;
  });
}
