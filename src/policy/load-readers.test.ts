// The fast reader (js-yaml) and the precise one (the `yaml` library) must
// read every document to the very same policies, origins included: the fast
// one is used whenever it succeeds.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parsePolicies, parsePoliciesWith } from "./load.ts";
import { PolicyError } from "./model.ts";

const HAND_WRITTEN = [
  `# a comment first
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: anchors
  namespace: shop
spec:
  order: 10
  selector: app == 'db'
  ingress:
    - &allow-web
      action: Allow
      protocol: TCP
      source: {selector: "app == 'web'", nets: [10.0.0.0/8]}
      destination:
        ports: [5432, "6000:6010"]
    - {action: Allow, source: {namespaceSelector: all()}}
    -   action: Log   # odd indentation
    - action: Deny
      source:
        notNets:
          - 10.1.0.0/16
  egress:
    - action: Allow
      destination:
        selector: |
          app in {'a', 'b'}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from:
    - namespaceSelector:
        matchExpressions:
        - {key: env, operator: In, values: [prod, 'staging']}
      podSelector: {}
    ports:
    - {protocol: UDP, port: 53, endPort: 60}
  egress: []
---
# an empty document
---
apiVersion: v1
kind: List
items:
- apiVersion: projectcalico.org/v3
  kind: GlobalNetworkPolicy
  metadata: {name: g}
  spec:
    namespaceSelector: has(env)
    types: [Ingress]
`,
];

function corpus(): { name: string; text: string }[] {
  const out = HAND_WRITTEN.map((text, i) => ({ name: `hand-written ${i}`, text }));
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (/\.ya?ml$/.test(entry) && !entry.startsWith("case."))
        out.push({ name: path, text: readFileSync(path, "utf8") });
    }
  };
  const shared = process.env.SWARMNET_CONFORMANCE ?? "/work/shared/conformance";
  for (const dir of [`${shared}/k8s-netpol`]) {
    try {
      walk(dir);
    } catch {
      // Not on this machine: the hand-written texts still run.
    }
  }
  return out;
}

describe("the two policy readers", () => {
  it("read every document to the same policies, origins and source included", () => {
    for (const { name, text } of corpus()) {
      const fast = parsePoliciesWith("fast", text, "f.yaml");
      const precise = parsePoliciesWith("precise", text, "f.yaml");
      assert.ok(precise.length > 0, name);
      assert.deepEqual(fast, precise, name);
    }
  });

  it("leave a file with aliases to the precise reader (one object, two places)", () => {
    const text = HAND_WRITTEN[0]!.replace(
      "    - {action: Allow, source: {namespaceSelector: all()}}",
      "    - *allow-web",
    );
    assert.throws(() => parsePoliciesWith("fast", text, "f.yaml"), /alias/);
    const [policy] = parsePolicies(text, "f.yaml");
    assert.equal(policy!.ingress[1]!.origin.line, 17);
    assert.deepEqual(policy!.ingress[1]!.source, policy!.ingress[0]!.source);
  });

  it("report errors as the precise reader does, whatever the fast one thought", () => {
    // Merge keys are not YAML 1.2 core: js-yaml would merge, the precise reader
    // sees a key "<<" — and its verdict is the one that counts.
    const text = `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: m, namespace: shop}
spec:
  ingress:
  - <<: {action: Allow}
`;
    assert.throws(
      () => parsePolicies(text, "m.yaml"),
      (err: unknown) =>
        err instanceof PolicyError && /m\.yaml:6:5: .*unknown field "<<"/.test(err.message),
    );
  });
});
