// Network policy benchmarks (root; iperf3, nft and iptables installed).
//
// policy-per-packet  two namespaces on a veth pair; iperf3 TCP throughput, a
//                    1-byte TCP ping-pong on one connection, and new TCP
//                    connections per second into the server namespace with:
//                    nothing (the baseline); swarmnet's `ingress` chain
//                    (render-policy.ts policyChains) whose `policy-in` set
//                    holds N elements; and iptables (iptables-nft) with the
//                    same N allow rules as one linear chain, the client's rule
//                    last, then DROP. N = 0, 1,000, 10,000, 100,000.
// policy-programming 3-node lab: time from `POST /v1/policies` of 10,000
//                    rules until a client's new connections to the server
//                    they allow succeed, and until the server's set holds them.
// policy-reach       reachMatrix (evaluate.ts) for 1,000 workloads in 50
//                    stacks and 1,000 generated Calico and Kubernetes policies.
import type { ChildProcess } from "node:child_process";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { NFT_TABLE } from "../src/dataplane/names.ts";
import { policyChains } from "../src/dataplane/render-policy.ts";
import { ipBatch, mustRun, run } from "../src/lab/kernel.ts";
import { TCP } from "../src/policy/evaluate.ts";
import { parsePolicies } from "../src/policy/load.ts";
import {
  type Namespace,
  namespaceLabels,
  STACK_LABEL,
  type Workload,
} from "../src/policy/model.ts";
import { reachCells } from "../src/policy/reach.ts";
import { createNetwork, SLEEP, until } from "./discovery-kit.ts";
import {
  guarded,
  killAll,
  mustApi,
  NODE,
  nsArgv,
  removeNamespaces,
  sandboxOf,
  startIn,
  stopped,
  taskAddr,
  uniquePrefix,
  waitRunning,
  withLab,
} from "./lab-driver.ts";
import { median, r2, r3 } from "./stats.ts";
import { ECHO_SERVER, iperf } from "./traffic.ts";
import type { Benchmark, BenchResult } from "./types.ts";

// ---------------------------------------------------------------- per-packet

/** POLICY_SIZES=100000 (comma-separated) reruns some sizes only. */
const SIZES = process.env.POLICY_SIZES
  ? process.env.POLICY_SIZES.split(",").map(Number)
  : [0, 1000, 10_000, 100_000];
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS) || 3);
const IPERF_SECONDS = Math.max(1, Number(process.env.POLICY_IPERF_SECONDS) || 3);
const IPERF_PORT = 5201;
const RR_PORT = 7777;
const RR_COUNT = 3000;
const RR_WARMUP = 300;
const CONNS = 1000;
const SERVER_IP = "10.250.0.1";
const CLIENT_IP = "10.250.0.2";

/** 1-byte request/response over one TCP connection: round trips per second. */
const PING_PONG = `const net = require("node:net");
const [addr, port, n, warm] = process.argv.slice(1).map((x, i) => (i === 0 ? x : Number(x)));
const one = Buffer.from([1]);
let i = 0, t0 = 0n;
const s = net.connect(port, addr, () => { s.setNoDelay(true); s.write(one); });
s.setTimeout(5000, () => { console.log(JSON.stringify({ error: "timeout" })); process.exit(1); });
s.on("error", (e) => { console.log(JSON.stringify({ error: e.code })); process.exit(1); });
s.on("data", () => {
  if (++i === warm) t0 = process.hrtime.bigint();
  if (i < n + warm) return s.write(one);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  s.destroy();
  console.log(JSON.stringify({ rate: n / secs }));
});`;

/** Sequential new connections (connect, 1-byte echo, close): connections per second. */
const CONNECT_RATE = `const net = require("node:net");
const [addr, port, n] = process.argv.slice(1).map((x, i) => (i === 0 ? x : Number(x)));
let i = 0; const t0 = process.hrtime.bigint();
function one() {
  if (i++ === n) { console.log(JSON.stringify({ rate: n / (Number(process.hrtime.bigint() - t0) / 1e9) })); return; }
  const s = net.connect(port, addr, () => { s.setNoDelay(true); s.write("x"); });
  s.setTimeout(3000, () => { console.log(JSON.stringify({ error: "timeout" })); process.exit(1); });
  s.on("error", (e) => { console.log(JSON.stringify({ error: e.code })); process.exit(1); });
  s.once("data", () => { s.destroy(); one(); });
}
one();`;

async function retry<T>(what: string, f: () => Promise<T | string>): Promise<T> {
  let last = "";
  for (let attempt = 0; attempt < 40; attempt++) {
    const r = await f();
    if (typeof r !== "string") return r;
    last = r;
    await sleep(250, undefined, stopped);
  }
  throw new Error(`${what} failed: ${last.trim()}`);
}

async function nodeRate(ns: string, script: string, args: number[]): Promise<number> {
  return retry("rate probe", async () => {
    const r = await run(nsArgv(ns, [NODE, "-e", script, SERVER_IP, ...args.map(String)]), {
      timeoutMs: 60_000,
      ...stopped,
    });
    try {
      const j = JSON.parse(r.stdout) as { rate?: number; error?: string };
      return j.rate ?? j.error ?? r.stdout;
    } catch {
      return r.stderr || r.stdout;
    }
  });
}

/** N distinct allow elements, the client's last (N = 0: the client's alone,
 * so the chain is in place and allows the client). */
function allowList(n: number): { addr: string; ports: [number, number] }[] {
  const out: { addr: string; ports: [number, number] }[] = [];
  for (let i = 0; i < n - 1; i++) {
    const from = 1000 + ((i * 7) % 50_000);
    out.push({
      addr: `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`,
      ports: [from, from + (i % 3 === 0 ? 0 : 99)],
    });
  }
  out.push({ addr: CLIENT_IP, ports: [IPERF_PORT, RR_PORT] });
  return out;
}

/** swarmnet's table for the server sandbox, ingress only; `chain` false: the set alone. */
function nftScript(n: number, chain: boolean): string {
  const ports = allowList(n).map(
    (e) =>
      `${e.addr} . tcp . ${e.ports[0] === e.ports[1] ? e.ports[0] : `${e.ports[0]}-${e.ports[1]}`}`,
  );
  const { chains, maps } = policyChains(
    {
      ingress: {
        ports: Object.fromEntries(ports.map((p) => [p, 0])),
        other: {},
        outcomes: [{ action: "accept", rule: "bench ingress[0]", logs: [] }],
      },
    },
    { owner: "bench" },
  );
  const lines = [`table ip ${NFT_TABLE} {`];
  for (const m of maps) {
    const elems = Object.entries(m.elements).map(([k, v]) => `${k} : ${v}`);
    lines.push(
      `  map ${m.name} {`,
      `    type ${m.type} : ${m.map}`,
      `    flags ${m.flags!.join(",")}`,
      ...(m.counter ? ["    counter"] : []),
    );
    if (elems.length) lines.push(`    elements = { ${elems.join(",\n      ")} }`);
    lines.push("  }");
  }
  if (chain) {
    for (const c of chains) {
      lines.push(
        `  chain ${c.name} {`,
        `    type ${c.type} hook ${c.hook} priority ${c.priority}; policy ${c.policy};`,
        ...c.rules.map((r) => `    ${r}`),
        "  }",
      );
    }
  }
  lines.push("}");
  return `${lines.join("\n")}\n`;
}

/** The same rules as iptables enforcers write them: established first, then
 * one rule per allow element in a linear chain, the client's last, then DROP. */
function iptablesScript(n: number): string {
  const lines = ["*filter", ":INPUT ACCEPT [0:0]", ":SWPOL - [0:0]"];
  lines.push("-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT");
  lines.push("-A INPUT -m conntrack --ctstate INVALID -j DROP");
  lines.push("-A INPUT -i lo -j ACCEPT");
  lines.push("-A INPUT -j SWPOL");
  lines.push("-A INPUT -j DROP");
  for (const e of allowList(n)) {
    const p = e.ports[0] === e.ports[1] ? `${e.ports[0]}` : `${e.ports[0]}:${e.ports[1]}`;
    lines.push(`-A SWPOL -s ${e.addr}/32 -p tcp -m tcp --dport ${p} -j ACCEPT`);
  }
  lines.push("COMMIT");
  return `${lines.join("\n")}\n`;
}

interface Sample {
  gbps: number;
  rr: number;
  conns: number;
}

async function measure(client: string): Promise<Sample> {
  const { gbps } = await iperf(client, SERVER_IP, IPERF_PORT, IPERF_SECONDS);
  const rr = await nodeRate(client, PING_PONG, [RR_PORT, RR_COUNT, RR_WARMUP]);
  const conns = await nodeRate(client, CONNECT_RATE, [RR_PORT, CONNS]);
  return { gbps, rr, conns };
}

async function perPacketRun(): Promise<BenchResult> {
  const prefix = uniquePrefix();
  const server = `${prefix}psrv`;
  const client = `${prefix}pcli`;
  const children = new Set<ChildProcess>();
  return guarded(
    async () => {
      await killAll(children);
      await removeNamespaces([server, client], [[server, "veth0"]]);
    },
    async () => {
      await ipBatch(`netns add ${server}\nnetns add ${client}\n`, stopped);
      await ipBatch(
        `link add veth0 netns ${server} type veth peer name veth0 netns ${client}\n`,
        stopped,
      );
      for (const [ns, ip] of [
        [server, SERVER_IP],
        [client, CLIENT_IP],
      ] as const) {
        await ipBatch(`addr add ${ip}/24 dev veth0\nlink set veth0 up\nlink set lo up\n`, {
          netns: ns,
          ...stopped,
        });
      }
      startIn(server, ["iperf3", "-s", "-p", String(IPERF_PORT)], children);
      startIn(server, [NODE, "-e", ECHO_SERVER, String(RR_PORT)], children);
      const nft = (text: string) =>
        mustRun(nsArgv(server, ["nft", "-f", "-"]), {
          input: text,
          timeoutMs: 300_000,
          ...stopped,
        });
      const ipt = (args: string[]) =>
        mustRun(nsArgv(server, ["iptables", ...args]), { timeoutMs: 300_000, ...stopped });

      const metrics: Record<string, number> = {};
      const units: Record<string, string> = {};
      const baseline: Record<string, number> = {};
      const detail: string[] = [];
      const loads: string[] = [];
      for (const n of SIZES) {
        // Load both once; then switch each on and off between measurements:
        // swarmnet's by creating/deleting its base chain (the set stays),
        // iptables' by creating/flushing INPUT's rules (the chain stays).
        let t = performance.now();
        await nft(nftScript(n, false));
        const nftLoadMs = performance.now() - t;
        t = performance.now();
        await mustRun(nsArgv(server, ["iptables-restore"]), {
          input: iptablesScript(n),
          timeoutMs: 600_000,
          ...stopped,
        });
        const iptLoadMs = performance.now() - t;
        // iptables-restore put its INPUT rules in; take them out until measured.
        const iptInput = iptablesScript(0)
          .split("\n")
          .filter((l) => l.startsWith("-A INPUT"))
          .map((l) => l.split(" "));
        await ipt(["-F", "INPUT"]);
        loads.push(
          `N=${n}: nft -f ${Math.round(nftLoadMs)} ms, iptables-restore ${Math.round(iptLoadMs)} ms`,
        );
        const swarmOn = nftScript(n, true).replace(/ {4}elements = \{[^}]*\}\n/, "");
        const samples: Record<"none" | "swarmnet" | "iptables", Sample[]> = {
          none: [],
          swarmnet: [],
          iptables: [],
        };
        const modes = ["none", "swarmnet", "iptables"] as const;
        for (let r = 0; r < ROUNDS; r++) {
          for (let k = 0; k < modes.length; k++) {
            const mode = modes[(k + r) % modes.length]!;
            if (mode === "swarmnet") await nft(swarmOn);
            if (mode === "iptables") for (const a of iptInput) await ipt(a);
            try {
              samples[mode].push(await measure(client));
            } finally {
              if (mode === "swarmnet") await nft(`delete chain ip ${NFT_TABLE} ingress\n`);
              if (mode === "iptables") await ipt(["-F", "INPUT"]);
            }
          }
        }
        const med = (m: keyof typeof samples, k: keyof Sample) =>
          median(samples[m].map((s) => s[k]));
        for (const mode of ["swarmnet", "iptables"] as const) {
          for (const k of ["gbps", "rr", "conns"] as const) {
            // Ratio per round against that round's baseline, then the median.
            const ratios = samples[mode].map((s, i) => s[k] / samples.none[i]![k]);
            const name = `${mode}_${n}_${k === "gbps" ? "tput" : k}_ratio`;
            metrics[name] = r3(median(ratios));
            units[name] = "x none";
          }
        }
        baseline[`swarmnet_${n}_tput_ratio`] = 1;
        detail.push(
          `N=${n}: none ${r2(med("none", "gbps"))} Gbit/s ${Math.round(med("none", "rr"))} rr/s ${Math.round(med("none", "conns"))} conn/s; ` +
            `swarmnet ${r2(med("swarmnet", "gbps"))} / ${Math.round(med("swarmnet", "rr"))} / ${Math.round(med("swarmnet", "conns"))}; ` +
            `iptables ${r2(med("iptables", "gbps"))} / ${Math.round(med("iptables", "rr"))} / ${Math.round(med("iptables", "conns"))}; ` +
            `swarmnet throughput ratio per round ${samples.swarmnet.map((x, i) => r2(x.gbps / samples.none[i]!.gbps)).join(" ")}`,
        );
        process.stderr.write(`  ${detail.at(-1)}\n`);
        await nft(`delete table ip ${NFT_TABLE}\n`);
        await mustRun(nsArgv(server, ["iptables-restore"]), {
          input: "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n",
          ...stopped,
        });
        await ipt(["-X"]);
      }
      const tput = metrics.swarmnet_100000_tput_ratio ?? Number.NaN;
      const rr = metrics.swarmnet_100000_rr_ratio ?? Number.NaN;
      metrics.swarmnet_100000_tput_loss_pct = r2((1 - tput) * 100);
      metrics.swarmnet_100000_worst_loss_pct = r2((1 - Math.min(tput, rr)) * 100);
      units.swarmnet_100000_tput_loss_pct = "%";
      units.swarmnet_100000_worst_loss_pct = "%";
      return {
        metrics,
        units,
        baseline,
        target: { metric: "swarmnet_100000_tput_loss_pct", max: 3 },
        notes:
          `two namespaces on one veth pair; server namespace filtered by: none; swarmnet's ingress chain ` +
          `(policyRules: ct established accept, then one lookup in the policy-in interval set of N ` +
          `"addr . tcp . port(s)" elements); iptables-nft with the same N rules as a linear chain after ` +
          `ct established (client's rule last, then DROP). iperf3 ${IPERF_SECONDS} s, ${RR_COUNT} 1-byte ` +
          `round trips on one connection (rr), ${CONNS} sequential new connections (conns: only new ` +
          `connections reach the set or chain; established packets are accepted by the first rule in both). ` +
          `${ROUNDS} rounds per N, order rotated; ratio = median over rounds of (mode / none of that round). ` +
          `Target judged on throughput; worst_loss = worse of throughput and rr. Medians: ${detail.join("; ")}. ` +
          `Load times: ${loads.join("; ")}`,
      };
    },
  );
}

// ---------------------------------------------------------------- reach

const WORKLOADS = 1000;
const STACKS = 50;
const POLICIES = 1000;
const APPS = 10;
const TIERS = ["web", "api", "db", "cache"];
function reachInput(): {
  yaml: string;
  workloads: Workload[];
  namespaces: Map<string, Namespace>;
} {
  const namespaces = new Map<string, Namespace>();
  for (let s = 0; s < STACKS; s++) {
    const name = `stack${s}`;
    namespaces.set(name, { name, labels: namespaceLabels(name, { env: s % 2 ? "prod" : "dev" }) });
  }
  const workloads: Workload[] = [];
  for (let i = 0; i < WORKLOADS; i++) {
    const stack = `stack${i % STACKS}`;
    workloads.push({
      id: `${stack}/w${i}`,
      namespace: stack,
      labels: {
        ...namespaceLabels(stack),
        app: `a${i % APPS}`,
        tier: TIERS[i % TIERS.length]!,
        ...(i % 5 === 0 && { monitored: "true" }),
      },
      addresses: [{ networkId: "net1", address: `10.1.${i >> 8}.${(i & 255) + 1}` }],
    });
  }
  const docs: string[] = [];
  for (let p = 0; p < POLICIES; p++) {
    const stack = `stack${p % STACKS}`;
    const app = `a${p % APPS}`;
    const tier = TIERS[p % TIERS.length]!;
    const port = 80 + (p % 20);
    switch (p % 4) {
      case 0: // Kubernetes: pods of an app, from a tier in namespaces of an env.
        docs.push(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: knp${p}, namespace: ${stack}}
spec:
  podSelector: {matchLabels: {app: ${app}}}
  policyTypes: [Ingress]
  ingress:
    - from:
        - podSelector: {matchLabels: {tier: ${tier}}}
          namespaceSelector: {matchLabels: {env: ${p % 8 ? "prod" : "dev"}}}
        - podSelector: {matchExpressions: [{key: monitored, operator: Exists}]}
      ports: [{protocol: TCP, port: ${port}}, {protocol: TCP, port: 8000, endPort: 8100}]`);
        break;
      case 1: // Kubernetes egress.
        docs.push(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: knp${p}, namespace: ${stack}}
spec:
  podSelector: {matchLabels: {tier: ${tier}}}
  policyTypes: [Egress]
  egress:
    - to: [{ipBlock: {cidr: 10.1.0.0/16, except: [10.1.3.0/24]}}]
      ports: [{protocol: TCP, port: ${port}}]`);
        break;
      case 2: // Calico namespaced, Deny then Allow.
        docs.push(`apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: cnp${p}, namespace: ${stack}}
spec:
  order: ${p % 100}
  selector: app == '${app}' && tier in {'${tier}', 'db'}
  types: [Ingress]
  ingress:
    - action: Deny
      protocol: TCP
      source: {selector: tier == 'web', namespaceSelector: env == 'dev'}
      destination: {ports: [22]}
    - action: Allow
      protocol: TCP
      source: {selector: "has(monitored) || app starts with 'a${p % 3}'"}
      destination: {ports: [${port}, "8000:8100"]}`);
        break;
      default: // Calico global.
        docs.push(`apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: gnp${p}}
spec:
  order: ${200 + (p % 50)}
  selector: tier == '${tier}' && app != '${app}'
  types: [Ingress, Egress]
  ingress:
    - action: Allow
      protocol: TCP
      source: {namespaceSelector: env == 'prod', notSelector: app == 'a${(p + 1) % APPS}'}
      destination: {ports: [${port}]}
    - action: Pass
      source: {nets: [10.1.${p % 4}.0/24]}
  egress:
    - action: Allow`);
    }
  }
  return { yaml: `${docs.join("\n---\n")}\n`, workloads, namespaces };
}

async function reachRun(): Promise<BenchResult> {
  const { yaml, workloads, namespaces } = reachInput();
  let t = performance.now();
  const policies = parsePolicies(yaml, "bench.yaml");
  const parseMs = performance.now() - t;
  if (policies.length !== POLICIES) throw new Error(`parsed ${policies.length} policies`);
  const port = 80;
  // The matrix as `swarmnet reach` computes it (reach.ts), three times: the
  // target is judged on the first (cold: it also pays for compiling the code
  // paths, as a manager's first `reach` does); the others show a warm one.
  let cells: boolean[][] = [];
  const runs: number[] = [];
  for (let i = 0; i < 3; i++) {
    t = performance.now();
    cells = reachCells(policies, namespaces, workloads, port, TCP);
    runs.push(performance.now() - t);
  }
  const reachMs = runs[0]!;
  let allowed = 0;
  for (const row of cells) for (const v of row) if (v) allowed++;
  const how = `reachCells, the first of three runs (then ${runs
    .slice(1)
    .map((r) => Math.round(r))
    .join(" and ")} ms)`;
  return {
    metrics: {
      reach_ms: Math.round(reachMs),
      parse_ms: Math.round(parseMs),
      reach_warm_ms: Math.round(Math.min(...runs.slice(1))),
    },
    units: { reach_ms: "ms", parse_ms: "ms", reach_warm_ms: "ms" },
    target: { metric: "reach_ms", max: 2000 },
    notes:
      `${WORKLOADS} workloads in ${STACKS} stacks, ${POLICIES} policies (250 each: Kubernetes ingress, ` +
      `Kubernetes egress, Calico NetworkPolicy, Calico GlobalNetworkPolicy) parsed from one YAML stream ` +
      `(parse_ms). reach = the ${WORKLOADS}x${WORKLOADS} matrix for TCP ${port}; ${how}. ` +
      `${allowed} of ${WORKLOADS * WORKLOADS} cells allowed.`,
  };
}

// ---------------------------------------------------------------- programming

/** POLICY_PROGRAM_RULES=N for a smaller run (the target is for 10,000). */
const PROGRAM_RULES = Number(process.env.POLICY_PROGRAM_RULES) || 10_000;
/** An apply (or its enforcement) slower than this fails the benchmark rather than hanging it. */
const PROGRAM_LIMIT_MS = Number(process.env.POLICY_PROGRAM_LIMIT_MS) || 120_000;
const PROGRAM_ROUNDS = Math.max(1, Number(process.env.POLICY_PROGRAM_ROUNDS) || 3);
const PROBE_MS = 10;

/** In the client's sandbox: a new TCP connect to addr:port every PROBE_MS
 * (each with its own 1 s timeout); prints {ok, at} whenever the outcome of a
 * completed attempt differs from the last one printed. */
const PROBER = `const net = require("node:net");
const [addr, port, every] = process.argv.slice(1).map((x, i) => (i === 0 ? x : Number(x)));
let last;
function say(ok) { if (ok !== last) { last = ok; console.log(JSON.stringify({ ok, at: Date.now() })); } }
setInterval(() => {
  const s = net.connect(port, addr);
  const t = setTimeout(() => { s.destroy(); say(false); }, 1000);
  s.on("connect", () => { clearTimeout(t); s.destroy(); say(true); });
  s.on("error", () => { clearTimeout(t); say(false); });
}, every);`;

function denyAllYaml(): string {
  return `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: back}
spec:
  podSelector: {}
  ingress: []
`;
}

/** One Calico policy selecting the server: PROGRAM_RULES - 1 Allow rules for
 * other sources and ports, the last one allowing the client. `salt` makes
 * each round's text differ. */
function bigPolicyYaml(salt: number): string {
  const lines = [
    "apiVersion: projectcalico.org/v3",
    "kind: NetworkPolicy",
    "metadata: {name: big, namespace: back}",
    "spec:",
    "  order: 100",
    "  selector: app == 'server'",
    "  types: [Ingress]",
    "  ingress:",
  ];
  for (let i = 0; i < PROGRAM_RULES - 1; i++) {
    const port = 1000 + ((i * 13 + salt) % 60_000);
    lines.push(
      `    - {action: Allow, protocol: TCP, source: {nets: [10.${200 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32]}, destination: {ports: [${port}]}}`,
    );
  }
  lines.push(
    "    - action: Allow",
    "      protocol: TCP",
    "      source: {selector: app == 'client', namespaceSelector: all()}",
    "      destination: {ports: [80]}",
  );
  return `${lines.join("\n")}\n`;
}

interface ProbeEvent {
  ok: boolean;
  at: number;
}

async function setInfo(
  ns: string,
  clientIp: string,
): Promise<{ elements: number; client: boolean }> {
  const r = await run(nsArgv(ns, ["nft", "list", "map", "ip", NFT_TABLE, "policy-in"]), {
    timeoutMs: 30_000,
    ...stopped,
  });
  if (r.code !== 0) return { elements: -1, client: false };
  return {
    elements: (r.stdout.match(/ \. tcp \. /g) ?? []).length,
    client: r.stdout.includes(`${clientIp} . tcp . 80`),
  };
}

async function programmingRun(): Promise<BenchResult> {
  return withLab(uniquePrefix(), async (lab) => {
    await createNetwork(lab, "bnet");
    const service = (name: string, stack: string, node: string, command: string[]) =>
      mustApi(lab, "POST", "/v1/services", {
        name,
        mode: { replicated: { replicas: 1 } },
        networks: [{ target: "bnet" }],
        command,
        labels: { [STACK_LABEL]: stack, app: name },
        placement: { constraints: [`node.hostname==${node}`] },
      });
    await service("server", "back", "node2", []); // the built-in responder, port 80
    await service("client", "front", "node1", SLEEP);
    const [server] = await waitRunning(lab, "server", 1);
    const [client] = await waitRunning(lab, "client", 1);
    const serverNs = sandboxOf(lab, server!);
    const clientNs = sandboxOf(lab, client!);
    const serverIp = taskAddr(server!);
    const clientIp = taskAddr(client!);
    const children = new Set<ChildProcess>();
    return guarded(
      () => killAll(children),
      async () => {
        const events: ProbeEvent[] = [];
        const prober = startIn(
          clientNs,
          [NODE, "-e", PROBER, serverIp, "80", String(PROBE_MS)],
          children,
        );
        let rest = "";
        prober.stdout!.removeAllListeners("data");
        prober.stdout!.on("data", (c: Buffer) => {
          rest += c.toString("utf8");
          const lines = rest.split("\n");
          rest = lines.pop()!;
          for (const l of lines) if (l.trim()) events.push(JSON.parse(l) as ProbeEvent);
        });
        const state = (since: number) => events.findLast((e) => e.at >= since)?.ok;
        const apply = async (file: string, text: string) => {
          let timer: NodeJS.Timeout | undefined;
          try {
            await Promise.race([
              mustApi<unknown>(lab, "POST", "/v1/policies", { files: [{ file, text }] }),
              new Promise((_, reject) => {
                timer = setTimeout(
                  () =>
                    reject(
                      new Error(
                        `POST /v1/policies (${file}) did not return in ${PROGRAM_LIMIT_MS / 1000} s`,
                      ),
                    ),
                  PROGRAM_LIMIT_MS,
                );
              }),
            ]);
          } finally {
            clearTimeout(timer);
          }
        };
        await until("the client reaches the server before any policy", 60_000, 50, () =>
          events.at(-1)?.ok === true ? true : undefined,
        );
        await apply("deny.yaml", denyAllYaml());
        let since = Date.now();
        await until("the default-deny blocks the client", 30_000, 20, () =>
          state(since) === false ? true : undefined,
        );
        const rounds: { applyMs: number; flipMs: number; setMs: number; elements: number }[] = [];
        for (let r = 0; r < PROGRAM_ROUNDS; r++) {
          const text = bigPolicyYaml(r);
          const t0 = Date.now();
          await apply("big.yaml", text);
          const t1 = Date.now();
          // The set, polled from here in parallel with the prober's connects.
          const setAt = until(
            `the server's policy-in map holds the client (${serverNs})`,
            PROGRAM_LIMIT_MS,
            20,
            async () => {
              const s = await setInfo(serverNs, clientIp);
              return s.client ? { at: Date.now(), elements: s.elements } : undefined;
            },
          );
          // Awaited below; until then a failure must not be an unhandled rejection.
          setAt.catch(() => {});
          const flipAt = await until(
            () => `the client reaches the server after applying ${PROGRAM_RULES} rules`,
            PROGRAM_LIMIT_MS,
            5,
            // From t0: enforcement may land before the call returns (then negative).
            () => events.find((e) => e.ok && e.at >= t0)?.at,
          );
          const set = await setAt;
          const round = {
            applyMs: t1 - t0,
            flipMs: flipAt - t1,
            setMs: set.at - t1,
            elements: set.elements,
          };
          rounds.push(round);
          process.stderr.write(
            `  round ${r + 1}: apply call ${round.applyMs} ms; connect flipped ${round.flipMs} ms after it returned; set seen ${round.setMs} ms (${round.elements} elements)\n`,
          );
          await mustApi(lab, "DELETE", "/v1/policies/back%2Fbig");
          since = Date.now();
          await until("blocked again after removing the policy", PROGRAM_LIMIT_MS, 20, () =>
            state(since) === false ? true : undefined,
          );
        }
        const med = (k: "applyMs" | "flipMs" | "setMs") => median(rounds.map((x) => x[k]));
        return {
          metrics: {
            enforce_ms: med("flipMs"),
            enforce_max_ms: Math.max(...rounds.map((x) => x.flipMs)),
            set_seen_ms: med("setMs"),
            apply_call_ms: med("applyMs"),
            apply_to_enforce_ms: median(rounds.map((x) => x.applyMs + x.flipMs)),
          },
          units: {
            enforce_ms: "ms",
            enforce_max_ms: "ms",
            set_seen_ms: "ms",
            apply_call_ms: "ms",
            apply_to_enforce_ms: "ms",
          },
          // From `policy apply` (the POST sent) to enforcement: the manager
          // does its work inside the call, and enforcement can land before
          // the call returns (enforce_ms is then negative).
          target: { metric: "apply_to_enforce_ms", max: 1000 },
          notes:
            `3-node lab; server (built-in responder, stack back) on node2, client (stack front) on node1. ` +
            `A Kubernetes default-deny for stack back, then per round POST /v1/policies of one Calico ` +
            `policy with ${PROGRAM_RULES} ingress Allow rules (${PROGRAM_RULES - 1} for other /32 sources ` +
            `and ports, the last allowing the client by selector), then DELETE it and wait until blocked. ` +
            `apply_to_enforce = from the POST being sent to the first successful new TCP connect from the ` +
            `client's sandbox; enforce = the same from the call returning (negative: enforced before it returned); ` +
            `the prober is a resident Node process connecting every ${PROBE_MS} ms; set_seen = from the call returning until ` +
            `\`nft list map ip swarmnet policy-in\` in the server's sandbox (the only sandbox whose maps ` +
            `change: the client's egress is not selected) holds the client's element, polled every ~20 ms ` +
            `plus nft's own listing time (polling starts when the call returns: if the set was already there, ` +
            `this is one poll). apply_call = the POST itself (parse, store, warnings). ${PROGRAM_ROUNDS} ` +
            `rounds, medians; set sizes seen: ${rounds.map((x) => x.elements).join(", ")}.`,
        };
      },
    );
  });
}

export const benchmarks: Benchmark[] = [
  { name: "policy-per-packet", run: perPacketRun },
  { name: "policy-reach", run: reachRun },
  { name: "policy-programming", run: programmingRun },
];
