import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { evaluateFlow, type FlowInput, TCP, UDP } from "./evaluate.ts";
import {
  type Action,
  type EntityMatch,
  type Namespace,
  namespaceLabels,
  type Policy,
  type Rule,
  STACK_LABEL,
  type Workload,
} from "./model.ts";
import { reachMatrix } from "./reach.ts";
import { parseSelector } from "./selector.ts";

const origin = { file: "t.yaml", line: 1, column: 1 };

function workload(id: string, labels: Record<string, string>, nets = ["ov"], n = 2): Workload {
  const namespace = id.split("/")[0]!;
  return {
    id,
    namespace,
    labels: { ...labels, [STACK_LABEL]: namespace },
    addresses: nets.map((networkId, i) => ({ networkId, address: `10.0.${i + 1}.${n}` })),
  };
}

const xa = workload("x/a", { pod: "a" }, ["ov"], 2);
const xb = workload("x/b", { pod: "b" }, ["ov"], 3);
const ya = workload("y/a", { pod: "a" }, ["ov"], 4);
const yb = workload("y/b", { pod: "b" }, ["ov"], 5);

const namespaces = new Map<string, Namespace>([
  ["x", { name: "x", labels: namespaceLabels("x", { team: "red" }) }],
  ["y", { name: "y", labels: namespaceLabels("y", { team: "blue" }) }],
]);

interface RuleSpec {
  action?: Action;
  protocol?: number;
  notProtocol?: number;
  icmp?: { type: number; code?: number };
  source?: EntityMatchSpec;
  destination?: EntityMatchSpec;
}
type EntityMatchSpec = Omit<
  EntityMatch,
  "selector" | "notSelector" | "namespaceSelector" | "nets" | "notNets"
> & {
  selector?: string;
  notSelector?: string;
  namespaceSelector?: string;
  nets?: string[];
  notNets?: string[];
};

function net(text: string) {
  const [ip, prefix] = text.split("/");
  const base = ip!.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
  return { text, base, prefix: Number(prefix) };
}

function entity(spec: EntityMatchSpec = {}): EntityMatch {
  const { selector, notSelector, namespaceSelector, nets, notNets, ...rest } = spec;
  return {
    ...rest,
    ...(selector !== undefined && { selector: parseSelector(selector) }),
    ...(notSelector !== undefined && { notSelector: parseSelector(notSelector) }),
    ...(namespaceSelector !== undefined && { namespaceSelector: parseSelector(namespaceSelector) }),
    ...(nets && { nets: nets.map(net) }),
    ...(notNets && { notNets: notNets.map(net) }),
  };
}

function rules(specs: RuleSpec[] = []): Rule[] {
  return specs.map((s, index) => ({
    action: s.action ?? "Allow",
    ...(s.protocol !== undefined && { protocol: s.protocol }),
    ...(s.notProtocol !== undefined && { notProtocol: s.notProtocol }),
    ...(s.icmp && { icmp: s.icmp }),
    source: entity(s.source),
    destination: entity(s.destination),
    index,
    origin,
  }));
}

function policy(
  name: string,
  opts: {
    namespace?: string;
    order?: number;
    selector?: string;
    types?: ("Ingress" | "Egress")[];
    ingress?: RuleSpec[];
    egress?: RuleSpec[];
  },
): Policy {
  return {
    name: opts.namespace ? `${opts.namespace}/${name}` : name,
    kind: opts.namespace ? "NetworkPolicy" : "GlobalNetworkPolicy",
    ...(opts.namespace !== undefined && { namespace: opts.namespace }),
    ...(opts.order !== undefined && { order: opts.order }),
    selector: parseSelector(opts.selector ?? "all()"),
    types: opts.types ?? [
      ...(opts.ingress ? ["Ingress" as const] : []),
      ...(opts.egress ? ["Egress" as const] : []),
    ],
    ingress: rules(opts.ingress),
    egress: rules(opts.egress),
    origin,
  };
}

function flow(
  policies: Policy[],
  from: FlowInput["from"],
  to: FlowInput["to"],
  extra: Partial<FlowInput> = {},
) {
  return evaluateFlow({ policies, namespaces, from, to, port: 80, protocol: TCP, ...extra });
}

describe("evaluateFlow", () => {
  it("allows everything when no policy selects either end", () => {
    const v = flow([], xa, yb);
    assert.equal(v.allowed, true);
    assert.equal(v.sharedNetwork, true);
    assert.equal(v.egress.reason, "no policy selects");
    assert.equal(v.ingress.reason, "no policy selects");
  });

  it("denies at the end of the tier when a policy selects but no rule matches", () => {
    const deny = policy("deny", { namespace: "y", types: ["Ingress"] });
    const v = flow([deny], xa, yb);
    assert.equal(v.allowed, false);
    assert.equal(v.ingress.reason, "end of tier (selected, no rule matched)");
    assert.equal(v.ingress.decidedBy, undefined);
    assert.deepEqual(v.ingress.trace, [{ policy: "y/deny", selected: true, rules: [] }]);
    // Egress at x/a is untouched: the policy has only the Ingress type.
    assert.equal(v.egress.reason, "no policy selects");
    assert.equal(v.egress.trace[0]?.why, "no Egress type");
  });

  it("scopes a namespaced policy to its namespace", () => {
    const deny = policy("deny", { namespace: "x", types: ["Ingress"] });
    assert.equal(flow([deny], xa, yb).allowed, true);
    const v = flow([deny], ya, xb);
    assert.equal(v.allowed, false);
    const notX = flow([deny], xa, yb).ingress.trace[0]!;
    assert.equal(notX.selected, false);
    assert.match(notX.why!, /namespace x, not y/);
  });

  it("applies a global policy in every namespace, by its selector", () => {
    const deny = policy("deny-b", { selector: "pod == 'b'", types: ["Ingress"] });
    assert.equal(flow([deny], ya, xb).allowed, false);
    assert.equal(flow([deny], xb, yb).allowed, false);
    const v = flow([deny], xb, ya);
    assert.equal(v.allowed, true);
    assert.match(v.ingress.trace[0]!.why!, /does not match/);
  });

  it("lets the first matching rule decide: Deny before Allow", () => {
    const p = policy("p", {
      namespace: "y",
      ingress: [{ action: "Deny", source: { selector: "pod == 'a'" } }, { action: "Allow" }],
    });
    const denied = flow([p], xa, yb);
    assert.equal(denied.allowed, false);
    assert.equal(denied.ingress.reason, "denied by rule");
    assert.deepEqual(denied.ingress.decidedBy, {
      policy: "y/p",
      direction: "ingress",
      ruleIndex: 0,
    });
    const allowed = flow([p], xb, yb);
    assert.equal(allowed.allowed, true);
    assert.deepEqual(allowed.ingress.decidedBy, {
      policy: "y/p",
      direction: "ingress",
      ruleIndex: 1,
    });
    assert.equal(allowed.ingress.trace[0]!.rules[0]!.matched, false);
    assert.match(allowed.ingress.trace[0]!.rules[0]!.mismatch!, /does not match selector/);
  });

  it("follows the given order across policies", () => {
    const allow = policy("allow", { order: 10, ingress: [{ action: "Allow" }] });
    const deny = policy("deny", { order: 20, ingress: [{ action: "Deny" }] });
    assert.equal(flow([allow, deny], xa, yb).allowed, true);
    const v = flow([deny, allow], xa, yb);
    assert.equal(v.allowed, false);
    assert.equal(v.ingress.decidedBy?.policy, "deny");
    // Policies after the decision are not considered.
    assert.equal(v.ingress.trace.length, 1);
  });

  it("Pass leaves the tier: the default allows, later denies do not apply", () => {
    const pass = policy("pass", { order: 1, ingress: [{ action: "Pass" }] });
    const deny = policy("deny", { order: 2, ingress: [{ action: "Deny" }] });
    const v = flow([pass, deny], xa, yb);
    assert.equal(v.allowed, true);
    assert.equal(v.ingress.reason, "pass to default");
    assert.deepEqual(v.ingress.decidedBy, { policy: "pass", direction: "ingress", ruleIndex: 0 });
  });

  it("Log notes the match and goes on", () => {
    const p = policy("p", { ingress: [{ action: "Log" }, { action: "Deny" }] });
    const v = flow([p], xa, yb);
    assert.equal(v.allowed, false);
    assert.equal(v.ingress.decidedBy?.ruleIndex, 1);
    assert.deepEqual(v.ingress.trace[0]!.rules[0], {
      index: 0,
      action: "Log",
      matched: true,
      note: "logged, continues",
    });
    // A Log alone decides nothing: the end of the tier denies.
    const logOnly = flow([policy("log", { ingress: [{ action: "Log" }] })], xa, yb);
    assert.equal(logOnly.ingress.reason, "end of tier (selected, no rule matched)");
  });

  it("adds Kubernetes-style allows across several policies", () => {
    const k8s = (name: string, from: string) =>
      ({
        ...policy(`knp.default.${name}`, {
          namespace: "y",
          order: 1000,
          selector: "pod == 'b'",
          ingress: [{ source: { selector: from, namespace: "y" } }],
        }),
        kind: "KubernetesNetworkPolicy",
      }) as Policy;
    const policies = [k8s("allow-a", "pod == 'a'"), k8s("allow-b", "pod == 'b'")];
    assert.equal(flow(policies, ya, yb).allowed, true);
    const v = flow(policies, workload("y/b2", { pod: "b" }, ["ov"], 9), yb);
    assert.equal(v.allowed, true);
    assert.equal(v.ingress.decidedBy?.policy, "y/knp.default.allow-b");
    // Same labels, other namespace: the rules' namespace scoping refuses it.
    const other = flow(policies, xa, yb);
    assert.equal(other.allowed, false);
    assert.match(other.ingress.trace[0]!.rules[0]!.mismatch!, /not in namespace y/);
    assert.equal(other.ingress.trace.length, 2);
  });

  it("needs egress at the client and ingress at the server", () => {
    const egressDeny = policy("eg", { namespace: "x", selector: "pod == 'a'", types: ["Egress"] });
    const v = flow([egressDeny], xa, yb);
    assert.equal(v.allowed, false);
    assert.equal(v.egress.allowed, false);
    assert.equal(v.ingress.allowed, true);
  });

  it("never creates a path the networks do not have", () => {
    const lonely = workload("y/c", { pod: "c" }, ["other"], 7);
    const allowAll = policy("all", { ingress: [{}], egress: [{}] });
    const v = flow([allowAll], xa, lonely);
    assert.equal(v.sharedNetwork, false);
    assert.equal(v.allowed, false);
    assert.equal(v.egress.allowed, true);
    assert.equal(v.ingress.allowed, true);
    const both = workload("y/d", {}, ["other", "ov"], 8);
    assert.equal(flow([], xa, both).sharedNetwork, true);
  });

  it("matches destination ports and ranges, and notPorts", () => {
    const p = policy("p", {
      ingress: [
        {
          protocol: TCP,
          destination: {
            ports: [
              { from: 80, to: 80 },
              { from: 8000, to: 8099 },
            ],
          },
        },
      ],
    });
    assert.equal(flow([p], xa, yb, { port: 80 }).allowed, true);
    assert.equal(flow([p], xa, yb, { port: 8050 }).allowed, true);
    assert.equal(flow([p], xa, yb, { port: 8100 }).allowed, false);
    assert.equal(flow([p], xa, yb, { port: 81 }).allowed, false);
    const not = policy("not", {
      ingress: [{ protocol: TCP, destination: { notPorts: [{ from: 22, to: 22 }] } }],
    });
    assert.equal(flow([not], xa, yb, { port: 80 }).allowed, true);
    const v = flow([not], xa, yb, { port: 22 });
    assert.equal(v.allowed, false);
    assert.match(v.ingress.trace[0]!.rules[0]!.mismatch!, /notPorts/);
  });

  it("matches source ports only when the flow names its source port", () => {
    const p = policy("p", { ingress: [{ source: { ports: [{ from: 1000, to: 2000 }] } }] });
    assert.equal(flow([p], xa, yb).allowed, false);
    assert.equal(flow([p], xa, yb, { sourcePort: 1500 }).allowed, true);
    assert.equal(flow([p], xa, yb, { sourcePort: 3000 }).allowed, false);
  });

  it("matches protocol and notProtocol", () => {
    const tcpOnly = policy("p", { ingress: [{ protocol: TCP }] });
    assert.equal(flow([tcpOnly], xa, yb).allowed, true);
    const udp = flow([tcpOnly], xa, yb, { protocol: UDP });
    assert.equal(udp.allowed, false);
    assert.match(udp.ingress.trace[0]!.rules[0]!.mismatch!, /protocol 17 is not 6/);
    const notUdp = policy("p", { ingress: [{ notProtocol: UDP }] });
    assert.equal(flow([notUdp], xa, yb).allowed, true);
    assert.equal(flow([notUdp], xa, yb, { protocol: UDP }).allowed, false);
  });

  it("matches ICMP type and code", () => {
    const echo = policy("p", { ingress: [{ protocol: 1, icmp: { type: 8 } }] });
    const icmp = (type: number, code = 0) =>
      flow([echo], xa, yb, { protocol: 1, port: 0, icmp: { type, code } }).allowed;
    assert.equal(icmp(8), true);
    assert.equal(icmp(0), false);
    const coded = policy("p", { ingress: [{ protocol: 1, icmp: { type: 3, code: 4 } }] });
    assert.equal(flow([coded], xa, yb, { protocol: 1, icmp: { type: 3, code: 4 } }).allowed, true);
    assert.equal(flow([coded], xa, yb, { protocol: 1, icmp: { type: 3, code: 1 } }).allowed, false);
  });

  it("matches namespaceSelector on the peer's namespace labels", () => {
    const p = policy("p", { ingress: [{ source: { namespaceSelector: "team == 'blue'" } }] });
    assert.equal(flow([p], ya, xb).allowed, true);
    assert.equal(flow([p], xa, xb).allowed, false);
    // A namespace missing from the map still has its default labels.
    const byName = policy("p", {
      ingress: [{ source: { namespaceSelector: "kubernetes.io/metadata.name == 'z'" } }],
    });
    assert.equal(flow([byName], workload("z/a", {}, ["ov"], 9), xb).allowed, true);
  });

  it("matches notSelector and destination selectors", () => {
    const p = policy("p", { egress: [{ destination: { notSelector: "pod == 'a'" } }] });
    assert.equal(flow([p], xa, yb).allowed, true);
    assert.equal(flow([p], xb, ya).allowed, false);
  });

  it("matches nets on the workload's address, and external peers by theirs", () => {
    const p = policy("p", {
      ingress: [{ source: { nets: ["10.0.1.0/30"] } }, { source: { nets: ["192.0.2.0/24"] } }],
    });
    assert.equal(flow([p], xa, yb).allowed, true); // 10.0.1.2
    assert.equal(flow([p], xb, yb).allowed, true); // 10.0.1.3
    assert.equal(flow([p], ya, yb).allowed, false); // 10.0.1.4
    const ext = flow([p], { ip: "192.0.2.9" }, yb);
    assert.equal(ext.allowed, true);
    assert.equal(ext.sharedNetwork, true);
    assert.equal(ext.egress.reason, "no policy selects");
    const notNets = policy("p", { ingress: [{ source: { notNets: ["10.0.1.0/30"] } }] });
    assert.equal(flow([notNets], xa, yb).allowed, false);
    assert.equal(flow([notNets], ya, yb).allowed, true);
  });

  it("uses the address on the shared network for nets", () => {
    // z/m is on "other" (10.0.1.9) and "ov" (10.0.2.9): only the latter is seen.
    const multi = workload("z/m", {}, ["other", "ov"], 9);
    const p = policy("p", { ingress: [{ source: { nets: ["10.0.1.9/32"] } }] });
    assert.equal(flow([p], multi, yb).allowed, false);
    const q = policy("p", { ingress: [{ source: { nets: ["10.0.2.9/32"] } }] });
    assert.equal(flow([q], multi, yb).allowed, true);
  });

  it("never selects an external peer by selector or namespace", () => {
    const p = policy("p", {
      ingress: [{ source: { selector: "all()" } }, { source: { namespaceSelector: "all()" } }],
    });
    const v = flow([p], { ip: "192.0.2.1" }, yb);
    assert.equal(v.allowed, false);
    assert.deepEqual(
      v.ingress.trace[0]!.rules.map((r) => r.matched),
      [false, false],
    );
    // notSelector: an address outside every workload is not in the excluded set.
    const not = policy("p", { ingress: [{ source: { notSelector: "pod == 'a'" } }] });
    assert.equal(flow([not], { ip: "192.0.2.1" }, yb).allowed, true);
  });
});

describe("reachMatrix", () => {
  it("gives every pair's verdict", () => {
    const deny = policy("deny", { namespace: "x", types: ["Ingress"] });
    const m = reachMatrix([deny], namespaces, [xa, xb, yb], 80, TCP);
    assert.equal(m.get("x/a")?.get("x/b"), false);
    assert.equal(m.get("x/a")?.get("y/b"), true);
    assert.equal(m.get("y/b")?.get("x/a"), false);
    assert.equal(m.get("x/a")?.size, 3);
  });
});
