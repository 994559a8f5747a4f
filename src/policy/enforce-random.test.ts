// enforce.ts against the reference (evaluateFlow) on generated worlds:
// random policies using every criterion the kernel sets express (actions
// with Log and Pass, selectors, notSelector, namespaceSelector, nets and
// notNets on either side, ports, notPorts, protocol, notProtocol, GNP
// namespaceSelector), workloads on several networks, two of them on one
// address, and random flows from workloads and outside addresses.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatIp, tryParseIp } from "../core/ipam/ipv4.ts";
import type { PolicyDirectionSets } from "../core/node-view.ts";
import { sandboxPolicy } from "./enforce.ts";
import { evaluateFlow, ICMP, type Peer, TCP, UDP } from "./evaluate.ts";
import {
  type Action,
  type EntityMatch,
  type Namespace,
  namespaceLabels,
  type Policy,
  type Rule,
  type Selector,
  type Workload,
  workloadLabels,
} from "./model.ts";
import { reachCells } from "./reach.ts";
import { parseSelector } from "./selector.ts";
import { lookup, prng } from "./test-helpers.ts";

const SELECTORS = [
  "app == 'web'",
  "app in {'api', 'db'}",
  "has(tier)",
  "!has(tier)",
  "all()",
  "tier != 'back'",
  "app starts with 'd'",
].map(parseSelector);
const NAMESPACE_SELECTORS = ["env == 'prod'", "all()", "!has(env)"].map(parseSelector);
const NETS = [
  "10.0.1.0/24",
  "10.0.1.4/30",
  "10.0.0.0/8",
  "0.0.0.0/0",
  "10.0.2.5/32",
  "192.168.0.0/16",
];
const PORTS = [80, 81, 443, 5432, 0, 65535];

function world(random: () => number) {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const maybe = (p = 0.3) => random() < p;
  const namespaces = new Map<string, Namespace>([
    ["a", { name: "a", labels: namespaceLabels("a", { env: "prod" }) }],
    ["b", { name: "b", labels: namespaceLabels("b") }],
  ]);
  const apps = ["web", "api", "db", "dash"];
  const workloads: Workload[] = [];
  for (let i = 0; i < 7; i++) {
    const ns = pick(["a", "b"]);
    const addresses = [{ networkId: "n1", address: `10.0.1.${2 + i}` }];
    if (maybe(0.4)) addresses.push({ networkId: "n2", address: `10.0.2.${2 + i}` });
    // n3 overlaps n1's subnet: the same address on two networks.
    if (maybe(0.15)) addresses.push({ networkId: "n3", address: `10.0.1.${2 + ((i + 1) % 7)}` });
    const labels: Record<string, string> = { app: pick(apps) };
    if (maybe(0.5)) labels.tier = pick(["front", "back"]);
    workloads.push({
      id: `${ns}/w${i}`,
      namespace: ns,
      labels: workloadLabels(labels, ns),
      addresses,
    });
  }
  // One only on n2 (outside of n1-only sandboxes).
  workloads.push({
    id: "b/lone",
    namespace: "b",
    labels: workloadLabels({ app: "web" }, "b"),
    addresses: [{ networkId: "n2", address: "10.0.2.100" }],
  });
  const net = (text: string) => {
    const [base, prefix] = text.split("/");
    return { text, base: tryParseIp(base!), prefix: Number(prefix) };
  };
  const ranges = () =>
    Array.from({ length: 1 + Math.floor(random() * 2) }, () => {
      const from = pick(PORTS);
      return { from, to: maybe(0.3) ? Math.min(65535, from + 100) : from };
    });
  const entity = (withPorts: boolean): EntityMatch => {
    const m: EntityMatch = {};
    if (maybe()) m.selector = pick(SELECTORS);
    if (maybe(0.15)) m.notSelector = pick(SELECTORS);
    if (maybe(0.2)) m.namespaceSelector = pick(NAMESPACE_SELECTORS);
    else if (m.selector && maybe(0.3)) m.namespace = pick(["a", "b"]);
    if (maybe(0.25)) m.nets = [net(pick(NETS))];
    if (maybe(0.15)) m.notNets = [net(pick(NETS))];
    if (withPorts && maybe(0.4)) m.ports = ranges();
    if (withPorts && maybe(0.15)) m.notPorts = ranges();
    return m;
  };
  const policies: Policy[] = [];
  const count = 1 + Math.floor(random() * 4);
  for (let p = 0; p < count; p++) {
    const rules = (direction: "ingress" | "egress"): Rule[] =>
      Array.from({ length: Math.floor(random() * 4) }, (_, index) => {
        const protocol = pick([TCP, UDP, ICMP, undefined, undefined]);
        const ported = protocol === TCP || protocol === UDP;
        const rule: Rule = {
          action: pick<Action>(["Allow", "Allow", "Deny", "Log", "Pass"]),
          source: entity(ported && maybe(0.1)),
          destination: entity(ported),
          index,
          origin: { file: "gen", line: 1, column: 1 },
        };
        if (protocol !== undefined) rule.protocol = protocol;
        else if (maybe(0.2)) rule.notProtocol = pick([TCP, UDP, ICMP]);
        void direction;
        return rule;
      });
    const global = maybe(0.3);
    const policy: Policy = {
      name: global ? `g${p}` : `a/p${p}`,
      kind: global ? "GlobalNetworkPolicy" : "NetworkPolicy",
      order: Math.floor(random() * 3),
      selector: pick(SELECTORS),
      types: pick<("Ingress" | "Egress")[]>([["Ingress"], ["Egress"], ["Ingress", "Egress"]]),
      ingress: rules("ingress"),
      egress: rules("egress"),
      origin: { file: "gen", line: 1, column: 1 },
    };
    if (!global) policy.namespace = "a";
    else if (maybe(0.3)) policy.namespaceSelector = pick(NAMESPACE_SELECTORS);
    policies.push(policy);
  }
  policies.sort((x, y) => (x.order ?? 0) - (y.order ?? 0) || (x.name < y.name ? -1 : 1));
  return { namespaces, workloads, policies };
}

describe("sandboxPolicy on generated worlds", () => {
  it("gives every flow evaluateFlow's verdict, deciding rule and Log rules", () => {
    const random = prng(7);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    let checked = 0;
    for (let round = 0; round < 150; round++) {
      const { namespaces, workloads, policies } = world(random);
      for (const self of workloads) {
        const result = sandboxPolicy({ policies, namespaces, workloads, self });
        const selfNets = new Set(self.addresses.map((a) => a.networkId));
        for (let n = 0; n < 60; n++) {
          const direction = pick(["ingress", "egress"] as const);
          // A workload on a shared network, at one of its addresses there; or an address.
          let peer: Peer;
          let ip: number;
          const w = pick(workloads);
          const onShared = w.addresses.filter((a) => selfNets.has(a.networkId));
          if (random() < 0.6 && onShared.length > 0) {
            peer = w;
            ip = tryParseIp(pick(onShared).address);
            // Two workloads on this address: the set cannot tell them apart; skip.
            const at = workloads.filter((x) =>
              x.addresses.some((a) => selfNets.has(a.networkId) && tryParseIp(a.address) === ip),
            );
            if (at.length > 1) continue;
          } else {
            ip =
              random() < 0.7
                ? (tryParseIp("10.0.0.0") + Math.floor(random() * 3 * 256)) >>> 0
                : Math.floor(random() * 2 ** 32);
            const taken = workloads.some((x) =>
              x.addresses.some((a) => selfNets.has(a.networkId) && tryParseIp(a.address) === ip),
            );
            if (taken) continue;
            peer = { ip: formatIp(ip) };
          }
          const protocol = pick([TCP, UDP, ICMP]);
          const port = protocol === ICMP ? 0 : pick([...PORTS, 82, 180, 181, 5000]);
          const verdict = evaluateFlow({
            policies,
            namespaces,
            from: direction === "ingress" ? peer : self,
            to: direction === "ingress" ? self : peer,
            port,
            protocol,
          })[direction];
          const s = result[direction];
          const outcome = s && lookup(s, ip, protocol, port);
          const what = `round ${round}: ${direction} at ${self.id}, peer ${formatIp(ip)}, protocol ${protocol}, port ${port}`;
          assert.equal(s === undefined || outcome?.action === "accept", verdict.allowed, what);
          const d = verdict.decidedBy;
          if (s)
            assert.equal(outcome?.rule, d && `${d.policy} ${d.direction}[${d.ruleIndex}]`, what);
          checked++;
        }
      }
    }
    assert.ok(checked > 30_000, `only ${checked} flows checked`);
  });
});

describe("reachCells on generated worlds", () => {
  it("gives every pair evaluateFlow's verdict", () => {
    const random = prng(11);
    let checked = 0;
    for (let round = 0; round < 300; round++) {
      const { namespaces, workloads, policies } = world(random);
      const protocol = [TCP, UDP, ICMP][Math.floor(random() * 3)]!;
      const port = protocol === ICMP ? 0 : PORTS[Math.floor(random() * PORTS.length)]!;
      const cells = reachCells(policies, namespaces, workloads, port, protocol);
      workloads.forEach((from, i) => {
        workloads.forEach((to, j) => {
          const expected = evaluateFlow({ policies, namespaces, from, to, port, protocol }).allowed;
          assert.equal(
            cells[i]![j],
            expected,
            `round ${round}: ${from.id} → ${to.id} ${port}/${protocol}`,
          );
          checked++;
        });
      });
    }
    assert.ok(checked > 10_000);
  });
});
