import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatSelector } from "./selector.ts";
import { assertPolicyError, calico, only, side } from "./test-helpers.ts";

const gnp = (spec: string) => calico(spec, "{name: g}", "GlobalNetworkPolicy");

describe("Calico NetworkPolicy", () => {
  it("defaults: namespace default, selector all(), no order, Ingress", () => {
    const p = only(
      "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: quiet}\n",
    );
    assert.equal(p.name, "default/quiet");
    assert.equal(p.kind, "NetworkPolicy");
    assert.equal(p.namespace, "default");
    assert.equal(p.order, undefined);
    assert.equal(formatSelector(p.selector), "all()");
    assert.deepEqual(p.types, ["Ingress"]);
    assert.deepEqual([p.ingress, p.egress], [[], []]);
    assert.deepEqual(p.origin, { file: "p.yaml", line: 1, column: 1 });
  });

  it("names, orders and scopes a namespaced policy", () => {
    const p = only(calico("  order: 10.5\n  selector: app == 'web'\n"));
    assert.equal(p.name, "shop/p");
    assert.equal(p.namespace, "shop");
    assert.equal(p.order, 10.5);
    assert.equal(formatSelector(p.selector), 'app == "web"');
  });

  it("defaults types as Calico does", () => {
    const types = (spec: string) => only(calico(spec)).types;
    assert.deepEqual(types("  selector: all()\n"), ["Ingress"]);
    assert.deepEqual(types("  ingress: [{action: Allow}]\n"), ["Ingress"]);
    assert.deepEqual(types("  egress: [{action: Allow}]\n"), ["Egress"]);
    assert.deepEqual(types("  ingress: [{action: Allow}]\n  egress: [{action: Deny}]\n"), [
      "Ingress",
      "Egress",
    ]);
    assert.deepEqual(types("  ingress: []\n  egress: []\n"), ["Ingress"]);
    assert.deepEqual(types("  types: [Egress]\n"), ["Egress"]);
    assert.deepEqual(types("  types: [Egress, Ingress]\n  egress: [{action: Allow}]\n"), [
      "Egress",
      "Ingress",
    ]);
  });

  it("reads every action and keeps rule order, index and origin", () => {
    const p = only(
      calico(
        "  ingress:\n  - action: Allow\n  - action: Deny\n  - action: Log\n  - action: Pass\n",
      ),
    );
    assert.deepEqual(
      p.ingress.map((r) => [r.action, r.index, r.origin.line, r.origin.column]),
      [
        ["Allow", 0, 6, 5],
        ["Deny", 1, 7, 5],
        ["Log", 2, 8, 5],
        ["Pass", 3, 9, 5],
      ],
    );
    assert.deepEqual(p.ingress[0]!.source, {});
    assert.deepEqual(p.ingress[0]!.destination, {});
  });

  it("scopes rule selectors to the policy's namespace unless a namespaceSelector is given", () => {
    const p = only(
      calico(
        [
          "  ingress:",
          "  - action: Allow",
          "    source: {selector: app == 'a'}",
          "  - action: Allow",
          "    source: {notSelector: app == 'a'}",
          "  - action: Allow",
          "    source: {namespaceSelector: team == 'x'}",
          "  - action: Allow",
          "    source: {selector: app == 'a', namespaceSelector: all()}",
          "  - action: Allow",
          "    source: {nets: [10.0.0.0/8]}",
          "  - action: Allow",
          "    source: {selector: ''}",
          "",
        ].join("\n"),
      ),
    );
    assert.deepEqual(
      p.ingress.map((r) => side(r.source)),
      [
        { selector: 'app == "a"', namespace: "shop" },
        { notSelector: 'app == "a"', namespace: "shop" },
        { namespaceSelector: 'team == "x"' },
        { selector: 'app == "a"', namespaceSelector: "all()" },
        { nets: ["10.0.0.0/8"] },
        {},
      ],
    );
  });

  it("reads a GlobalNetworkPolicy's namespaceSelector, and checks its grammar", () => {
    const p = only(gnp("  namespaceSelector: env == 'prod'\n  selector: app == 'db'\n"));
    assert.equal(formatSelector(p.namespaceSelector!), 'env == "prod"');
    assertPolicyError(
      gnp("  namespaceSelector: env ==\n"),
      5,
      28,
      /namespaceSelector: invalid selector/,
    );
    // A namespaced policy has its namespace: the field is unknown there.
    assertPolicyError(calico("  namespaceSelector: all()\n"), 5, 3, /namespaceSelector/);
  });

  it("does not scope anything in a GlobalNetworkPolicy", () => {
    const p = only(
      gnp(
        "  selector: has(app)\n  egress:\n  - action: Deny\n    destination: {selector: app == 'db'}\n",
      ),
    );
    assert.equal(p.name, "g");
    assert.equal(p.kind, "GlobalNetworkPolicy");
    assert.equal(p.namespace, undefined);
    assert.deepEqual(side(p.egress[0]!.destination), { selector: 'app == "db"' });
    assert.deepEqual(p.types, ["Egress"]);
  });

  it("reads nets and notNets: CIDRs, bare addresses, host bits masked", () => {
    const p = only(
      calico(
        "  ingress:\n  - action: Allow\n    source:\n      nets: [10.1.2.3/16, 192.168.0.7]\n      notNets: [10.1.0.0/24]\n",
      ),
    );
    assert.deepEqual(side(p.ingress[0]!.source), {
      nets: ["10.1.0.0/16", "192.168.0.7/32"],
      notNets: ["10.1.0.0/24"],
    });
    assert.deepEqual(p.ingress[0]!.source.nets![0], {
      text: "10.1.0.0/16",
      base: 0x0a010000,
      prefix: 16,
    });
  });

  it("reads protocols by name (any case) and number", () => {
    const protocol = (value: string) =>
      only(calico(`  ingress: [{action: Allow, protocol: ${value}}]\n`)).ingress[0]!.protocol;
    assert.equal(protocol("TCP"), 6);
    assert.equal(protocol("udp"), 17);
    assert.equal(protocol("ICMP"), 1);
    assert.equal(protocol("47"), 47);
    const p = only(calico("  ingress: [{action: Deny, notProtocol: UDP}]\n"));
    assert.equal(p.ingress[0]!.notProtocol, 17);
    assert.equal(p.ingress[0]!.protocol, undefined);
  });

  it("reads ports and notPorts on either side: numbers, strings, ranges", () => {
    const p = only(
      calico(
        "  egress:\n  - action: Allow\n    protocol: TCP\n    source: {ports: ['1024:65535']}\n    destination: {ports: [80, '443', '8000:8080'], notPorts: [8001]}\n",
      ),
    );
    const rule = p.egress[0]!;
    assert.deepEqual(rule.source.ports, [{ from: 1024, to: 65535 }]);
    assert.deepEqual(rule.destination.ports, [
      { from: 80, to: 80 },
      { from: 443, to: 443 },
      { from: 8000, to: 8080 },
    ]);
    assert.deepEqual(rule.destination.notPorts, [{ from: 8001, to: 8001 }]);
    const udp = only(
      calico("  ingress: [{action: Allow, protocol: 17, destination: {ports: [53]}}]\n"),
    );
    assert.deepEqual(udp.ingress[0]!.destination.ports, [{ from: 53, to: 53 }]);
  });

  it("reads icmp and notICMP", () => {
    const p = only(
      calico(
        "  ingress:\n  - {action: Allow, protocol: ICMP, icmp: {type: 8, code: 0}}\n  - {action: Deny, protocol: ICMP, notICMP: {type: 3}}\n  - {action: Allow, protocol: ICMP, icmp: {}}\n",
      ),
    );
    assert.deepEqual(p.ingress[0]!.icmp, { type: 8, code: 0 });
    assert.deepEqual(p.ingress[1]!.notIcmp, { type: 3 });
    assert.equal(p.ingress[2]!.icmp, undefined);
  });

  it("accepts what does not change meaning: default tier, ipVersion 4, metadata, off host flags", () => {
    const p = only(
      gnp(
        [
          "  tier: default",
          "  doNotTrack: false",
          "  preDNAT: false",
          "  applyOnForward: false",
          "  performanceHints: [AssumeNeededOnEveryNode]",
          "  ingress:",
          "  - action: Allow",
          "    ipVersion: 4",
          "    metadata: {annotations: {why: because}}",
          "",
        ].join("\n"),
      ),
    );
    assert.equal(p.ingress.length, 1);
  });

  it("takes labels and annotations in metadata", () => {
    const p = only(
      calico("  selector: all()\n", "{name: p, labels: {a: b}, annotations: {c: d}, uid: x}"),
    );
    assert.equal(p.name, "default/p");
  });
});

describe("Calico errors", () => {
  const rule = (text: string) => calico(`  ingress:\n  - ${text}\n`);

  it("needs a valid action", () => {
    assertPolicyError(rule("protocol: TCP"), 6, 5, /action is required/);
    assertPolicyError(rule("action: allow"), 6, 13, /"allow" must be Allow, Deny, Log or Pass/);
  });

  it("points inside a bad selector", () => {
    assertPolicyError(calico("  selector: app == 'a' &&& b\n"), 5, 26, /invalid selector/);
    assertPolicyError(calico('  selector: "app == web"\n'), 5, 21, /expected a quoted string/);
    assertPolicyError(
      rule(
        "action: Allow\n    source:\n      selector: |\n        has(a) &&\n        b in {'x' 'y'}\n",
      ),
      10,
      19,
      /spec.ingress\[0\].source.selector: invalid selector: .*expected ',' or '}'/,
    );
  });

  it("needs TCP or UDP for ports", () => {
    assertPolicyError(
      rule("action: Allow\n    destination: {ports: [80]}"),
      7,
      19,
      /destination.ports needs the rule's protocol to be TCP or UDP/,
    );
    assertPolicyError(
      rule("action: Allow\n    protocol: ICMP\n    source: {notPorts: [80]}"),
      8,
      14,
      /source.notPorts needs/,
    );
  });

  it("rejects bad ports", () => {
    const ports = (p: string) =>
      rule(`action: Allow\n    protocol: TCP\n    destination: {ports: [${p}]}`);
    assertPolicyError(ports("http"), 8, 27, /"http": named ports are not supported/);
    assertPolicyError(ports("'90:80'"), 8, 27, /the range ends before it starts/);
    assertPolicyError(ports("70000"), 8, 27, /integer from 0 to 65535/);
    assertPolicyError(ports("'1:70000'"), 8, 27, /ports go up to 65535/);
  });

  it("rejects unsupported protocols", () => {
    assertPolicyError(rule("{action: Allow, protocol: SCTP}"), 6, 31, /SCTP is not supported/);
    assertPolicyError(rule("{action: Allow, protocol: 132}"), 6, 31, /SCTP is not supported/);
    assertPolicyError(rule("{action: Allow, protocol: ICMPv6}"), 6, 31, /ICMPv6 is not supported/);
    assertPolicyError(
      rule("{action: Allow, protocol: GRE}"),
      6,
      31,
      /"GRE" must be TCP, UDP, ICMP/,
    );
    assertPolicyError(rule("{action: Allow, protocol: 256}"), 6, 31, /from 1 to 255/);
    assertPolicyError(rule("{action: Allow, notProtocol: sctp}"), 6, 34, /SCTP/);
  });

  it("needs protocol ICMP for icmp fields, and a type for a code", () => {
    assertPolicyError(
      rule("{action: Allow, icmp: {type: 8}}"),
      6,
      21,
      /icmp needs the rule's protocol to be ICMP/,
    );
    assertPolicyError(
      rule("{action: Allow, protocol: TCP, notICMP: {type: 8}}"),
      6,
      36,
      /notICMP needs/,
    );
    assertPolicyError(
      rule("{action: Allow, protocol: ICMP, icmp: {code: 1}}"),
      6,
      50,
      /code needs a type/,
    );
    assertPolicyError(
      rule("{action: Allow, protocol: ICMP, icmp: {type: 255}}"),
      6,
      50,
      /from 0 to 254/,
    );
  });

  it("rejects bad or IPv6 nets", () => {
    assertPolicyError(
      rule("{action: Allow, source: {nets: [10.0.0.0/33]}}"),
      6,
      37,
      /not an IPv4 address or CIDR/,
    );
    assertPolicyError(
      rule("{action: Allow, source: {notNets: ['fd00::/8']}}"),
      6,
      40,
      /IPv6 is not supported/,
    );
    assertPolicyError(rule("{action: Allow, ipVersion: 6}"), 6, 32, /IPv4 only/);
  });

  it("rejects unsupported features at their field", () => {
    assertPolicyError(
      rule("{action: Allow, http: {methods: [GET]}}"),
      6,
      21,
      /http \(an L7 match\) is not supported/,
    );
    assertPolicyError(
      rule("{action: Allow, source: {serviceAccounts: {names: [a]}}}"),
      6,
      30,
      /serviceAccounts is not supported/,
    );
    assertPolicyError(
      rule("{action: Allow, destination: {services: {name: a}}}"),
      6,
      35,
      /services is not supported/,
    );
    assertPolicyError(
      rule("{action: Allow, destination: {serviceSelector: a}}"),
      6,
      35,
      /serviceSelector is not supported/,
    );
    assertPolicyError(
      calico("  serviceAccountSelector: all()\n"),
      5,
      3,
      /serviceAccountSelector is not supported/,
    );
    assertPolicyError(calico("  tier: security\n"), 5, 9, /only the default tier/);
    assertPolicyError(gnp("  doNotTrack: true\n"), 5, 15, /doNotTrack is not supported/);
    assertPolicyError(calico("  doNotTrack: false\n"), 5, 3, /unknown field "doNotTrack"/);
  });

  it("rejects unknown fields where they are", () => {
    assertPolicyError(calico("  selectr: all()\n"), 5, 3, /spec: unknown field "selectr"/);
    assertPolicyError(rule("{action: Allow, sauce: {}}"), 6, 21, /unknown field "sauce"/);
    assertPolicyError(
      rule("{action: Allow, source: {selectors: a}}"),
      6,
      30,
      /unknown field "selectors"/,
    );
    assertPolicyError(
      calico("  selector: all()\n", "{name: p, nmspace: x}"),
      3,
      21,
      /metadata: unknown field "nmspace"/,
    );
  });

  it("checks types against the rules", () => {
    assertPolicyError(
      calico("  types: [Ingress]\n  egress: [{action: Allow}]\n"),
      5,
      10,
      /must include Egress/,
    );
    assertPolicyError(
      calico("  types: [Egress]\n  ingress: [{action: Allow}]\n"),
      5,
      10,
      /must include Ingress/,
    );
    assertPolicyError(calico("  types: [Ingress, Ingress]\n"), 5, 20, /listed twice/);
    assertPolicyError(calico("  types: [ingress]\n"), 5, 11, /must be Ingress or Egress/);
  });

  it("checks names and namespaces", () => {
    assertPolicyError(calico("  order: 1\n", "{namespace: x}"), 3, 11, /metadata.name is required/);
    assertPolicyError(calico("  order: 1\n", "{name: Bad_Name}"), 3, 18, /must be lower case/);
    assertPolicyError(calico("  order: 1\n", "{name: knp.default.x}"), 3, 18, /reserved/);
    assertPolicyError(
      calico("  order: 1\n", "{name: p, namespace: 'a b'}"),
      3,
      32,
      /not a valid stack name/,
    );
    assertPolicyError(
      gnp("  order: 1\n").replace("{name: g}", "{name: g, namespace: x}"),
      3,
      32,
      /has no namespace/,
    );
    assertPolicyError(calico("  order: high\n"), 5, 10, /spec.order must be a number/);
  });
});
