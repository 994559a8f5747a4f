// Shared by the policy compiler tests: parse one YAML text, expect an error
// at a place.
import assert from "node:assert/strict";
import { parsePolicies } from "./load.ts";
import { type Policy, PolicyError } from "./model.ts";
import { formatSelector } from "./selector.ts";

export const FILE = "p.yaml";

export function only(text: string): Policy {
  const policies = parsePolicies(text, FILE);
  assert.equal(policies.length, 1);
  return policies[0]!;
}

/** Asserts that parsing fails at line:column with a message matching. */
export function assertPolicyError(
  text: string,
  line: number,
  column: number,
  message: RegExp,
): void {
  assert.throws(
    () => parsePolicies(text, FILE),
    (err: unknown) => {
      assert.ok(err instanceof PolicyError, `not a PolicyError: ${err}`);
      assert.match(err.message, message);
      assert.deepEqual(err.origin, { file: FILE, line, column }, err.message);
      return true;
    },
  );
}

/** A rule side with selectors as text, for readable expectations. */
export function side(match: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(match)) {
    out[key] =
      key === "selector" || key === "notSelector" || key === "namespaceSelector"
        ? formatSelector(value)
        : key === "nets" || key === "notNets"
          ? (value as { text: string }[]).map((n) => n.text)
          : value;
  }
  return out;
}

export const calico = (spec: string, meta = "{name: p, namespace: shop}", kind = "NetworkPolicy") =>
  `apiVersion: projectcalico.org/v3\nkind: ${kind}\nmetadata: ${meta}\nspec:\n${spec}`;

export const k8s = (spec: string, meta = "{name: p, namespace: shop}") =>
  `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: ${meta}\nspec:\n${spec}`;
