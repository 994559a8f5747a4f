// A sandbox's ingress policy on the real kernel (render-policy.ts): a peer
// allowed on tcp 80-81 connects there and nowhere else, UDP is dropped, and a
// connection established before the policy denied it keeps working (stateful
// by decision). Then allow, explicit deny and Log outcomes: verdicts, the
// per-element counters and their sums per rule, log lines in the kernel log
// (nf_log_all_netns turned on and restored), and an empty second diff. Needs root; everything has a unique prefix, removed in after().
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { after, before, describe, it } from "node:test";
import { diff } from "../diff.ts";
import { emptyNamespace, type KernelState, type NftCounters } from "../kernel-state.ts";
import type { Scope } from "../names.ts";
import { NFT_TABLE } from "../names.ts";
import { describePlan } from "../plan.ts";
import { parseKmsgRecord, parsePolicyLogMessage } from "../policy-log.ts";
import {
  type PolicyDirectionSets,
  type PolicyOutcome,
  policyChains,
  type SandboxPolicySets,
  sumPolicyCounters,
} from "../render-policy.ts";
import { apply } from "./apply.ts";
import { cleanup } from "./cleanup.ts";
import { run } from "./exec.ts";
import {
  enableSandboxLogging,
  NF_LOG_ALL_NETNS,
  nfLogAllNetns,
  readKmsg,
  restoreSandboxLogging,
} from "./kernel-log.ts";
import { observe } from "./observe.ts";
import { namespacesStartingWith, ping, removeNamespaces } from "./testbed.ts";

const root = process.getuid?.() === 0;

// Echoes every line on TCP 80, 81, 82 (connections stay open) and UDP 80.
const SERVER = `
const net = require("node:net");
let ready = 0;
const up = () => { if (++ready === 4) console.log("ready"); };
for (const p of [80, 81, 82]) net.createServer((s) => s.on("data", (d) => s.write(d))).listen(p, "0.0.0.0", up);
const u = require("node:dgram").createSocket("udp4");
u.on("message", (m, r) => u.send(m, r.port, r.address));
u.bind(80, "0.0.0.0", up);
`;

// One exchange: "ok" or "ERR <code>" (a dropped packet times out).
const ONCE = `
const [kind, ip, port] = process.argv.slice(1);
const done = (t) => { console.log(t); process.exit(0); };
setTimeout(() => done("ERR ETIMEDOUT"), 2000);
if (kind === "tcp") {
  const s = require("node:net").connect(Number(port), ip, () => s.write("x"));
  s.on("data", () => done("ok"));
  s.on("error", (e) => done("ERR " + e.code));
} else {
  const s = require("node:dgram").createSocket("udp4");
  s.on("message", () => done("ok"));
  s.connect(Number(port), ip, () => s.send("x"));
}
`;

// A long connection: sends "1", then "2" once told on stdin; prints each echo.
const LONG = `
const s = require("node:net").connect(80, process.argv[1], () => s.write("1"));
s.on("data", (d) => console.log("got " + d));
s.on("error", (e) => { console.log("ERR " + e.code); process.exit(0); });
process.stdin.once("data", () => { s.write("2"); setTimeout(() => { console.log("timeout"); process.exit(0); }, 2000); });
`;

const ALLOW: PolicyOutcome = { action: "accept", rule: "t/allow ingress[0]", logs: [] };

/** Every element allowed by one rule. */
function allow(ports: string[]): PolicyDirectionSets {
  return { ports: Object.fromEntries(ports.map((p) => [p, 0])), other: {}, outcomes: [ALLOW] };
}

const W = (n: number) => `t/web ingress[${n}]`;

/** Allow tcp 80, deny tcp 81 and ICMP, log (t/audit) then allow udp 80. */
const MIXED: SandboxPolicySets = {
  ingress: {
    ports: { "10.9.0.1 . tcp . 80": 0, "10.9.0.1 . tcp . 81": 1, "10.9.0.1 . udp . 80": 2 },
    other: { "10.9.0.1 . icmp": 3 },
    outcomes: [
      { action: "accept", rule: W(0), logs: [] },
      { action: "drop", rule: W(1), logs: [] },
      { action: "accept", rule: W(2), logs: ["t/audit ingress[0]"] },
      { action: "drop", rule: W(3), logs: [] },
    ],
  },
};

describe("policy in a sandbox on the kernel", {
  skip: root ? false : "needs root (creates network namespaces)",
}, () => {
  const prefix = `t-pol-${randomBytes(3).toString("hex")}-`;
  const scope: Scope = { hostNs: `${prefix}h`, prefix: `${prefix}h-` };
  const sb = `${scope.prefix}sb-taskaaaaaaaa`;
  const peer = `${prefix}peer`;
  const stops: (() => void)[] = [];
  // Unique per run, so this run's log lines are told from any other's.
  const owner = randomBytes(6).toString("hex");

  /** What the kernel holds now, with the sandbox's table being `policy`'s. */
  async function desired(p: SandboxPolicySets, logDenied = false): Promise<KernelState> {
    const state = await observe(scope);
    const { chains, maps } = policyChains(p, { owner, logDenied });
    state.namespaces[0]!.nft = { family: "ip", name: NFT_TABLE, chains, maps };
    return state;
  }

  async function sync(p: SandboxPolicySets, logDenied = false) {
    const want = await desired(p, logDenied);
    const plan = diff(await observe(scope), want);
    await apply(plan);
    assert.equal(describePlan(diff(await observe(scope), want)), "");
    return plan;
  }

  const once = async (kind: "tcp" | "udp", port: number) =>
    (
      await run([
        "ip",
        "netns",
        "exec",
        peer,
        process.execPath,
        "-e",
        ONCE,
        kind,
        "10.9.0.2",
        String(port),
      ])
    ).stdout.trim();

  before(async () => {
    await run(["ip", "netns", "add", scope.hostNs]);
    await run(["ip", "netns", "add", peer]);
    // The sandbox namespace as apply makes it, then a veth to the peer.
    const ns = emptyNamespace(sb, "sandbox");
    ns.links.push({ name: "lo", kind: "loopback", up: true });
    await apply(
      diff(await observe(scope), {
        host: emptyNamespace(scope.hostNs, "host"),
        namespaces: [ns],
      }),
    );
    await run(
      ["ip", "-n", peer, "-batch", "-"],
      `link set lo up\nlink add p0 type veth peer name eth0 netns ${sb}\naddr add 10.9.0.1/24 dev p0\nlink set p0 up\n`,
    );
    await run(["ip", "-n", sb, "-batch", "-"], "addr add 10.9.0.2/24 dev eth0\nlink set eth0 up\n");
    const child = spawn("ip", ["netns", "exec", sb, process.execPath, "-e", SERVER], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    stops.push(() => {
      if (child.exitCode === null) child.kill();
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout.setEncoding("utf8");
      child.stdout.on("data", (d: string) => d.includes("ready") && resolve());
      child.on("close", (code) => reject(new Error(`server exited (${code})`)));
    });
  });

  after(async () => {
    for (const stop of stops) stop();
    try {
      await cleanup(scope);
    } finally {
      await removeNamespaces(prefix);
    }
    assert.deepEqual(await namespacesStartingWith(prefix), []);
  });

  it("lets the peer in on tcp 80-81 only, keeps an established connection when denied", async () => {
    // Without a policy everything passes.
    assert.equal(await once("tcp", 82), "ok");
    assert.equal(await once("udp", 80), "ok");
    await sync({ ingress: allow(["10.9.0.1 . tcp . 80-81"]) });
    assert.equal(await once("tcp", 80), "ok");
    assert.equal(await once("tcp", 81), "ok");
    assert.equal(await once("tcp", 82), "ERR ETIMEDOUT");
    assert.equal(await once("udp", 80), "ERR ETIMEDOUT");

    // A connection made while allowed, then the policy denies the peer.
    const long = spawn("ip", ["netns", "exec", peer, process.execPath, "-e", LONG, "10.9.0.2"], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    stops.push(() => {
      if (long.exitCode === null) long.kill();
    });
    let out = "";
    const ended = new Promise<void>((resolve) => long.on("close", () => resolve()));
    await new Promise<void>((resolve) => {
      long.stdout.setEncoding("utf8");
      long.stdout.on("data", (d: string) => {
        out += d;
        if (out.includes("got 1")) resolve();
        if (out.includes("got 2")) long.kill();
      });
    });
    const plan = await sync({ ingress: allow([]) });
    assert.deepEqual(
      plan.steps.map((s) => s.kind),
      ["nft-element-del"],
    );
    assert.equal(await once("tcp", 80), "ERR ETIMEDOUT");
    long.stdin.write("go\n");
    await ended;
    assert.match(out, /got 2/);
    assert.deepEqual(diff(await observe(scope), await desired({ ingress: allow([]) })).steps, []);
  });

  it("decides by rule, counts per element and logs with the deciding rule", async () => {
    const stateDir = mkdtempSync(`${tmpdir()}/t-pol-`);
    const found = nfLogAllNetns();
    try {
      const logging = enableSandboxLogging(stateDir);
      await sync(MIXED, true);
      assert.equal(await once("tcp", 80), "ok");
      assert.equal(await once("tcp", 81), "ERR ETIMEDOUT");
      assert.equal(await once("udp", 80), "ok");
      assert.equal(await once("tcp", 82), "ERR ETIMEDOUT");
      const pinged = await ping(peer, "10.9.0.2"); // undefined: no ping here
      if (pinged !== undefined) assert.equal(pinged, false);

      // Counters: read aside, never in the state (the diff stays empty).
      const counters = new Map<string, NftCounters>();
      const state = await observe(scope, counters);
      assert.deepEqual(diff(state, await desired(MIXED, true)).steps, []);
      const got = counters.get(sb)!;
      const el = got.elements["policy-in"]!;
      // A connection's first packet is judged; the rest are established.
      assert.equal(el["10.9.0.1 . tcp . 80"]!.packets, 1);
      assert.equal(el["10.9.0.1 . udp . 80"]!.packets, 1);
      assert.ok(el["10.9.0.1 . tcp . 81"]!.packets >= 1); // SYN, and retries
      const icmp = got.elements["policy-in-other"]?.["10.9.0.1 . icmp"]?.packets ?? 0;
      assert.equal(icmp > 0, pinged !== undefined);
      const sums = sumPolicyCounters({ [owner]: MIXED }, () => got);
      const by = new Map(sums.rules.map((r) => [r.rule, r]));
      assert.equal(by.get(W(0))!.packets, 1);
      assert.equal(by.get(W(1))!.packets, el["10.9.0.1 . tcp . 81"]!.packets);
      assert.equal(by.get(W(2))!.packets, 1);
      assert.equal(by.get("t/audit ingress[0]")!.packets, 1);
      assert.equal(by.get(W(3))!.packets, icmp);
      assert.ok(by.get(W(0))!.bytes > 0);
      const [eot] = sums.endOfTier;
      assert.equal(eot?.direction, "ingress");
      assert.ok(eot!.packets >= 1); // tcp 82

      // Log lines, with the prefix naming the sandbox and the rule.
      if (logging === "on") {
        const entries: ReturnType<typeof parsePolicyLogMessage>[] = [];
        await readKmsg((r) => {
          const e = parsePolicyLogMessage(parseKmsgRecord(r)?.message ?? "");
          if (e?.owner === owner.slice(0, 12)) entries.push(e);
        });
        const seen = (by: string, verdict: string, rule: string, proto: string, dport?: number) =>
          entries.some(
            (e) =>
              e!.by === by &&
              e!.verdict === verdict &&
              e!.rule === rule &&
              e!.proto === proto &&
              e!.src === "10.9.0.1" &&
              e!.dst === "10.9.0.2" &&
              (dport === undefined || e!.dport === dport),
          );
        assert.ok(seen("rule", "drop", W(1), "TCP", 81), JSON.stringify(entries));
        assert.ok(seen("log", "accept", "t/audit ingress[0]", "UDP", 80));
        assert.ok(seen("rule", "drop", "end-of-tier ingress", "TCP", 82));
        if (pinged !== undefined) assert.ok(seen("rule", "drop", W(3), "ICMP"));
        assert.ok(!entries.some((e) => e!.rule === W(0))); // allowed, not logged
      }

      // Denied packets no longer logged: values change, two chains go.
      const plan = await sync(MIXED, false);
      const name = (s: (typeof plan.steps)[number]) =>
        "key" in s
          ? s.key
          : "chain" in s
            ? typeof s.chain === "string"
              ? s.chain
              : s.chain.name
            : "";
      assert.deepEqual(
        plan.steps.map((s) => `${s.kind} ${name(s)}`),
        [
          "nft-chain-rules ingress",
          "nft-element-del 10.9.0.1 . tcp . 81",
          "nft-element-add 10.9.0.1 . tcp . 81",
          "nft-element-del 10.9.0.1 . icmp",
          "nft-element-add 10.9.0.1 . icmp",
          "nft-chain-flush pin-log-1",
          "nft-chain-flush pin-log-3",
          "nft-chain-del pin-log-1",
          "nft-chain-del pin-log-3",
        ],
      );
      assert.equal(await once("tcp", 81), "ERR ETIMEDOUT");
    } finally {
      restoreSandboxLogging(stateDir);
      rmSync(stateDir, { recursive: true, force: true });
      assert.equal(nfLogAllNetns(), found, `${NF_LOG_ALL_NETNS} restored`);
    }
  });
});
