import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Rule } from "./model.ts";
import { formatSelector } from "./selector.ts";
import { assertPolicyError, k8s, only, side } from "./test-helpers.ts";

/** Rules as [protocol, source, destination] with readable selectors. */
const show = (rules: Rule[]) =>
  rules.map((r) => [r.action, r.protocol ?? null, side(r.source), side(r.destination)]);

describe("Kubernetes NetworkPolicy", () => {
  it("compiles as Calico does: knp.default.<name>, order 1000, namespace default", () => {
    const p = only(
      "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny}\nspec: {podSelector: {}}\n",
    );
    assert.equal(p.name, "default/knp.default.deny");
    assert.equal(p.kind, "KubernetesNetworkPolicy");
    assert.equal(p.namespace, "default");
    assert.equal(p.order, 1000);
    assert.equal(formatSelector(p.selector), "all()");
    assert.deepEqual(p.types, ["Ingress"]);
    assert.deepEqual([p.ingress, p.egress], [[], []]);
  });

  it("turns matchLabels and matchExpressions into one selector", () => {
    const p = only(
      k8s(
        [
          "  podSelector:",
          "    matchLabels: {app: web, kubernetes.io/part-of: shop}",
          "    matchExpressions:",
          "    - {key: tier, operator: In, values: [front, edge]}",
          "    - {key: env, operator: NotIn, values: [dev]}",
          "    - {key: canary, operator: Exists}",
          "    - {key: legacy, operator: DoesNotExist}",
          "",
        ].join("\n"),
      ),
    );
    assert.equal(
      formatSelector(p.selector),
      'app == "web" && kubernetes.io/part-of == "shop" && tier in {"front", "edge"} && env not in {"dev"} && has(canary) && !has(legacy)',
    );
    assert.equal(p.namespace, "shop");
  });

  it("defaults policyTypes as Kubernetes does", () => {
    const types = (spec: string) => only(k8s(spec)).types;
    assert.deepEqual(types("  podSelector: {}\n"), ["Ingress"]);
    assert.deepEqual(types("  egress: [{}]\n"), ["Ingress", "Egress"]);
    assert.deepEqual(types("  egress: []\n"), ["Ingress"]);
    assert.deepEqual(types("  policyTypes: [Egress]\n"), ["Egress"]);
  });

  it("keeps rules only for the directions in policyTypes", () => {
    const p = only(k8s("  policyTypes: [Egress]\n  ingress: [{}]\n  egress: [{}]\n"));
    assert.deepEqual(p.ingress, []);
    assert.equal(p.egress.length, 1);
  });

  it("isolates with an empty rule list and allows everyone with an empty rule", () => {
    assert.deepEqual(only(k8s("  ingress: []\n")).ingress, []);
    const all = only(k8s("  ingress: [{}]\n")).ingress;
    assert.deepEqual(show(all), [["Allow", null, {}, {}]]);
    const fromEmpty = only(k8s("  ingress: [{from: [], ports: []}]\n")).ingress;
    assert.deepEqual(show(fromEmpty), [["Allow", null, {}, {}]]);
  });

  it("reads each kind of peer", () => {
    const p = only(
      k8s(
        [
          "  ingress:",
          "  - from:",
          "    - podSelector: {matchLabels: {role: client}}",
          "    - namespaceSelector: {matchLabels: {team: a}}",
          "    - podSelector: {matchLabels: {role: client}}",
          "      namespaceSelector: {}",
          "    - podSelector: {}",
          "    - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16, 10.2.0.0/16]}",
          "",
        ].join("\n"),
      ),
    );
    assert.deepEqual(show(p.ingress), [
      ["Allow", null, { selector: 'role == "client"', namespace: "shop" }, {}],
      ["Allow", null, { namespaceSelector: 'team == "a"' }, {}],
      ["Allow", null, { selector: 'role == "client"', namespaceSelector: "all()" }, {}],
      ["Allow", null, { selector: "all()", namespace: "shop" }, {}],
      ["Allow", null, { nets: ["10.0.0.0/8"], notNets: ["10.1.0.0/16", "10.2.0.0/16"] }, {}],
    ]);
    assert.deepEqual(
      p.ingress.map((r) => [r.index, r.origin.line, r.origin.column]),
      [
        [0, 7, 7],
        [1, 8, 7],
        [2, 9, 7],
        [3, 11, 7],
        [4, 12, 7],
      ],
    );
  });

  it("puts egress peers and ports on the destination", () => {
    const p = only(
      k8s(
        "  egress:\n  - to: [{namespaceSelector: {matchLabels: {team: db}}}]\n    ports: [{port: 5432}]\n",
      ),
    );
    assert.deepEqual(p.types, ["Ingress", "Egress"]);
    assert.deepEqual(show(p.egress), [
      ["Allow", 6, {}, { namespaceSelector: 'team == "db"', ports: [{ from: 5432, to: 5432 }] }],
    ]);
  });

  it("reads ports: TCP by default, UDP, ranges, protocol alone; one rule per peer and protocol", () => {
    const p = only(
      k8s(
        [
          "  ingress:",
          "  - from: [{podSelector: {}}, {ipBlock: {cidr: 192.168.0.0/24}}]",
          "    ports:",
          "    - port: 80",
          "    - {protocol: UDP, port: 53}",
          "    - {protocol: TCP, port: 8000, endPort: 8080}",
          "  - ports: [{protocol: UDP}, {protocol: UDP, port: 9}]",
          "",
        ].join("\n"),
      ),
    );
    const tcp = [
      { from: 80, to: 80 },
      { from: 8000, to: 8080 },
    ];
    const udp = [{ from: 53, to: 53 }];
    const pods = { selector: "all()", namespace: "shop" };
    const block = { nets: ["192.168.0.0/24"] };
    assert.deepEqual(show(p.ingress), [
      ["Allow", 6, pods, { ports: tcp }],
      ["Allow", 17, pods, { ports: udp }],
      ["Allow", 6, block, { ports: tcp }],
      ["Allow", 17, block, { ports: udp }],
      // A port entry without a port opens every port of its protocol.
      ["Allow", 17, {}, {}],
    ]);
    assert.deepEqual(
      p.ingress.map((r) => r.index),
      [0, 1, 2, 3, 4],
    );
  });
});

describe("Kubernetes errors", () => {
  const ingress = (text: string) => k8s(`  ingress:\n  - ${text}\n`);

  it("rejects named ports, SCTP and bad protocols", () => {
    assertPolicyError(
      ingress("ports: [{port: http}]"),
      6,
      20,
      /"http": named ports are not supported/,
    );
    assertPolicyError(ingress("ports: [{port: '80'}]"), 6, 20, /named ports/);
    assertPolicyError(
      ingress("ports: [{protocol: SCTP, port: 9}]"),
      6,
      24,
      /SCTP is not supported/,
    );
    assertPolicyError(ingress("ports: [{protocol: tcp}]"), 6, 24, /"tcp" must be TCP or UDP/);
  });

  it("checks port numbers and endPort", () => {
    assertPolicyError(ingress("ports: [{port: 0}]"), 6, 20, /from 1 to 65535/);
    assertPolicyError(
      ingress("ports: [{port: 90, endPort: 80}]"),
      6,
      33,
      /endPort must not be below port 90/,
    );
    assertPolicyError(ingress("ports: [{endPort: 80}]"), 6, 23, /endPort needs a port/);
  });

  it("checks peers", () => {
    assertPolicyError(
      ingress("from: [{}]"),
      6,
      12,
      /must have podSelector, namespaceSelector or ipBlock/,
    );
    assertPolicyError(
      ingress("from: [{podSelector: {}, ipBlock: {cidr: 10.0.0.0/8}}]"),
      6,
      39,
      /ipBlock cannot be combined/,
    );
    assertPolicyError(
      ingress("from: [{ipBlock: {except: [10.0.0.0/9]}}]"),
      6,
      22,
      /cidr is required/,
    );
    assertPolicyError(
      ingress("from: [{ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/16]}}]"),
      6,
      50,
      /must be strictly inside cidr 10.0.0.0\/8/,
    );
    assertPolicyError(
      ingress("from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.0.0.0/8]}}]"),
      6,
      50,
      /strictly inside/,
    );
    assertPolicyError(ingress("from: [{ipBlock: {cidr: 10.0.0.1}}]"), 6, 29, /not an IPv4 CIDR/);
    assertPolicyError(ingress("to: []"), 6, 5, /unknown field "to"/);
    assertPolicyError(k8s("  egress:\n  - from: []\n"), 6, 5, /unknown field "from"/);
  });

  it("checks label selectors", () => {
    const sel = (text: string) => k8s(`  podSelector: ${text}\n`);
    assertPolicyError(
      sel("{matchLabels: {app: 'a b'}}"),
      5,
      36,
      /"a b" is not a valid label value/,
    );
    assertPolicyError(
      sel("{matchLabels: {'bad key!': x}}"),
      5,
      31,
      /"bad key!" is not a valid label key/,
    );
    assertPolicyError(sel("{matchLabels: {version: 2}}"), 5, 40, /must be a string/);
    assertPolicyError(
      sel("{matchExpressions: [{key: a, operator: Is}]}"),
      5,
      55,
      /operator "Is" must be In, NotIn, Exists or DoesNotExist/,
    );
    assertPolicyError(
      sel("{matchExpressions: [{key: a, operator: In}]}"),
      5,
      36,
      /values must not be empty for In/,
    );
    assertPolicyError(
      sel("{matchExpressions: [{key: a, operator: Exists, values: [x]}]}"),
      5,
      71,
      /values must be empty for Exists/,
    );
    assertPolicyError(sel("{matchExpressions: [{operator: Exists}]}"), 5, 36, /key is required/);
    assertPolicyError(sel("{matchLabel: {}}"), 5, 17, /unknown field "matchLabel"/);
  });

  it("checks policyTypes and the spec", () => {
    assertPolicyError(
      k8s("  policyTypes: [Ingress, Sideways]\n"),
      5,
      26,
      /"Sideways" must be Ingress or Egress/,
    );
    assertPolicyError(k8s("  podselector: {}\n"), 5, 3, /unknown field "podselector"/);
    assertPolicyError(
      "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\n",
      1,
      1,
      /spec is required/,
    );
  });
});
