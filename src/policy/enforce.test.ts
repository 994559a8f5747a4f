import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { tryParseIp } from "../core/ipam/ipv4.ts";
import type { PolicyDirectionSets } from "../core/node-view.ts";
import { sandboxPolicy } from "./enforce.ts";
import { type DirectionVerdict, evaluateFlow, ICMP, type Peer, TCP, UDP } from "./evaluate.ts";
import { parsePolicies } from "./load.ts";
import {
  type Namespace,
  namespaceLabels,
  type Policy,
  STACK_LABEL,
  type Workload,
} from "./model.ts";
import { calico, k8s, lookup, parseElement, prng } from "./test-helpers.ts";

function workload(id: string, app: string, network: string, address: string): Workload {
  const namespace = id.split("/")[0]!;
  return {
    id,
    namespace,
    labels: { app, [STACK_LABEL]: namespace },
    addresses: [{ networkId: network, address }],
  };
}

const web = workload("shop/web", "web", "ov", "10.0.1.2");
const api = workload("shop/api", "api", "ov", "10.0.1.3");
const db = workload("shop/db", "db", "ov", "10.0.1.4");
// On another network: reaches db only as an outside address would.
const lone = workload("other/lone", "web", "elsewhere", "10.0.2.5");
const workloads = [web, api, db, lone];
const namespaces = new Map<string, Namespace>([
  ["shop", { name: "shop", labels: namespaceLabels("shop") }],
  ["other", { name: "other", labels: namespaceLabels("other") }],
]);

function policies(...docs: string[]): Policy[] {
  return parsePolicies(docs.join("---\n"), "p.yaml");
}

function sets(ps: Policy[], self = db) {
  return sandboxPolicy({ policies: ps, namespaces, workloads, self });
}

/** A direction as the old allow-only sets read: the elements whose packets are accepted. */
interface Allowed {
  ports: string[];
  other: string[];
}

function allowedOf(d: PolicyDirectionSets): Allowed {
  const accepted = (elements: Record<string, number>) =>
    Object.entries(elements)
      .filter(([, o]) => d.outcomes[o]!.action === "accept")
      .map(([e]) => e);
  return { ports: accepted(d.ports), other: accepted(d.other) };
}

function allowed(ps: Policy[], self = db): { ingress?: Allowed; egress?: Allowed } {
  const s = sets(ps, self);
  const out: { ingress?: Allowed; egress?: Allowed } = {};
  if (s.ingress) out.ingress = allowedOf(s.ingress);
  if (s.egress) out.egress = allowedOf(s.egress);
  return out;
}

const SCENARIOS: Record<string, Policy[]> = {
  "default deny": policies(k8s("  podSelector: {}\n  policyTypes: [Ingress]\n")),
  "podSelector on a port range": policies(
    k8s(
      "  podSelector: {matchLabels: {app: db}}\n  ingress:\n  - from: [{podSelector: {matchLabels: {app: api}}}]\n    ports: [{port: 5432, endPort: 5434}]\n",
    ),
  ),
  "ipBlock with except": policies(
    k8s(
      "  podSelector: {}\n  ingress:\n  - from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.1.0/24]}}]\n    ports: [{protocol: UDP, port: 53}]\n",
    ),
  ),
  "Deny before Allow": policies(
    calico(
      "  order: 10\n  ingress:\n  - action: Deny\n    source: {selector: app == 'web'}\n",
      "{name: deny-web, namespace: shop}",
    ),
    calico(
      "  order: 20\n  ingress:\n  - action: Allow\n    protocol: TCP\n",
      "{name: allow-tcp, namespace: shop}",
    ),
  ),
  Pass: policies(
    calico(
      "  order: 10\n  ingress:\n  - action: Pass\n    source: {selector: app == 'web'}\n",
      "{name: pass-web, namespace: shop}",
    ),
    calico("  order: 20\n  ingress:\n  - action: Deny\n", "{name: deny-rest, namespace: shop}"),
  ),
  egress: policies(
    k8s(
      "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to: [{ipBlock: {cidr: 10.0.0.0/8}}]\n    ports: [{port: 443}]\n",
    ),
  ),
  mixed: policies(
    calico(
      [
        "  order: 5",
        "  types: [Ingress, Egress]",
        "  ingress:",
        "  - action: Log",
        "  - action: Deny",
        "    protocol: UDP",
        "    source: {nets: [10.0.1.0/30]}",
        "    destination: {ports: ['100:200']}",
        "  - action: Allow",
        "    source: {notNets: [192.168.0.0/16, 10.0.1.3/32]}",
        "    destination: {notPorts: [150, '1000:2000']}",
        "    protocol: TCP",
        "  - action: Pass",
        "    source: {namespaceSelector: all(), notSelector: app == 'api'}",
        "  egress:",
        "  - action: Allow",
        "    notProtocol: UDP",
        "    destination: {notNets: [10.0.0.0/8]}",
        "  - action: Deny",
        "    protocol: TCP",
        "    destination: {selector: app == 'web', ports: [80, 81]}",
        "  - action: Allow",
        "    destination: {nets: [10.0.0.0/9]}",
      ].join("\n") + "\n",
      "{name: mixed, namespace: shop}",
    ),
    k8s(
      "  podSelector: {}\n  ingress:\n  - from: [{podSelector: {}}]\n    ports: [{protocol: UDP}]\n",
    ),
  ),
};

describe("sandboxPolicy", () => {
  it("default deny: an empty ingress set, no egress chain", () => {
    assert.deepEqual(allowed(SCENARIOS["default deny"]!), { ingress: { ports: [], other: [] } });
  });

  it("allow from a podSelector on a port range: that peer's address, merged ports", () => {
    assert.deepEqual(allowed(SCENARIOS["podSelector on a port range"]!), {
      ingress: { ports: ["10.0.1.3 . tcp . 5432-5434"], other: [] },
    });
    // web is not selected by the policy: no chain, everything allowed.
    assert.deepEqual(allowed(SCENARIOS["podSelector on a port range"]!, web), {});
  });

  it("ipBlock with except: the block minus the hole, CIDR where aligned, a range elsewhere", () => {
    assert.deepEqual(allowed(SCENARIOS["ipBlock with except"]!).ingress, {
      ports: ["10.0.0.0/24 . udp . 53", "10.0.2.0-10.0.255.255 . udp . 53"],
      other: [],
    });
  });

  it("Calico Deny before Allow: every address but the denied workload's", () => {
    assert.deepEqual(allowed(SCENARIOS["Deny before Allow"]!).ingress, {
      ports: ["0.0.0.0-10.0.1.1 . tcp . 0-65535", "10.0.1.3-255.255.255.255 . tcp . 0-65535"],
      other: [],
    });
  });

  it("Pass leaves the tier: allowed on every protocol, the rest denied", () => {
    assert.deepEqual(allowed(SCENARIOS.Pass!).ingress, {
      ports: ["10.0.1.2 . tcp . 0-65535", "10.0.1.2 . udp . 0-65535"],
      other: ["10.0.1.2 . icmp"],
    });
  });

  it("egress: destinations, and no ingress chain", () => {
    assert.deepEqual(allowed(SCENARIOS.egress!), {
      egress: { ports: ["10.0.0.0/8 . tcp . 443"], other: [] },
    });
  });

  it("no policy selecting self: no sets at all", () => {
    const ps = policies(
      k8s("  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Ingress, Egress]\n"),
    );
    assert.deepEqual(allowed(ps), {});
    assert.deepEqual(allowed([]), {});
  });

  it("elements never overlap and come sorted", () => {
    for (const [name, ps] of Object.entries(SCENARIOS)) {
      for (const self of [web, api, db]) {
        for (const s of Object.values(sets(ps, self))) {
          const keys = Object.keys(s.ports);
          const boxes = keys.map(parseElement);
          for (let i = 0; i < boxes.length; i++) {
            const a = boxes[i]!;
            if (i > 0) {
              const p = boxes[i - 1]!;
              const order =
                p.addr[0] - a.addr[0] || p.protocol - a.protocol || p.port[0] - a.port[0];
              assert.ok(order < 0, `${name}: not sorted: ${keys[i - 1]} / ${keys[i]}`);
            }
            for (const b of boxes.slice(i + 1)) {
              const overlap =
                a.protocol === b.protocol &&
                a.addr[0] <= b.addr[1] &&
                b.addr[0] <= a.addr[1] &&
                a.port[0] <= b.port[1] &&
                b.port[0] <= a.port[1];
              assert.ok(!overlap, `${name}: overlapping elements`);
            }
          }
        }
      }
    }
  });

  it("agrees with evaluateFlow on random flows", () => {
    const random = prng(42);
    const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!;
    const shared = [web, api, db];
    const sharedIps = new Set(shared.map((w) => tryParseIp(w.addresses[0]!.address)));
    for (const [name, ps] of Object.entries(SCENARIOS)) {
      for (const self of shared) {
        const result = sets(ps, self);
        for (let n = 0; n < 400; n++) {
          const direction = pick(["ingress", "egress"] as const);
          let peer: Peer;
          let ip: number;
          if (random() < 0.4) {
            peer = pick(workloads);
            // A workload on no network of self's is only an address to it.
            if (peer === lone) peer = { ip: lone.addresses[0]!.address };
          } else {
            do {
              ip =
                random() < 0.6
                  ? (tryParseIp("10.0.0.0") + Math.floor(random() * 3 * 256)) >>> 0
                  : Math.floor(random() * 2 ** 32);
            } while (sharedIps.has(ip));
            peer = { ip: `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}` };
          }
          ip = tryParseIp("id" in peer ? peer.addresses[0]!.address : peer.ip);
          const protocol = pick([TCP, UDP, ICMP]);
          const port =
            protocol === ICMP
              ? 0
              : pick([
                  0, 53, 80, 81, 82, 99, 100, 150, 200, 201, 443, 999, 1000, 2000, 2001, 5432, 5434,
                  5435, 65535,
                ]);
          const verdict = evaluateFlow({
            policies: ps,
            namespaces,
            from: direction === "ingress" ? peer : self,
            to: direction === "ingress" ? self : peer,
            port,
            protocol,
          })[direction];
          const s = result[direction];
          const outcome = s === undefined ? undefined : lookup(s, ip, protocol, port);
          const what = `${name}: ${direction} at ${self.id}, peer ${ip}, protocol ${protocol}, port ${port}`;
          assert.equal(s === undefined || outcome?.action === "accept", verdict.allowed, what);
          // The element names the rule that decided, and the Log rules met on the way.
          const d = verdict.decidedBy;
          assert.equal(outcome?.rule, d && `${d.policy} ${d.direction}[${d.ruleIndex}]`, what);
          if (outcome) assert.deepEqual(outcome.logs, loggedBy(verdict, direction), what);
        }
      }
    }
  });
});

/** The Log rules evaluateFlow's trace went through before deciding. */
function loggedBy(verdict: DirectionVerdict, direction: string): string[] {
  return verdict.trace.flatMap((step) =>
    step.rules
      .filter((r) => r.note === "logged, continues")
      .map((r) => `${step.policy} ${direction}[${r.index}]`),
  );
}
