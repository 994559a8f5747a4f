// A sandbox's ingress policy on the real kernel (render-policy.ts): a peer
// allowed on tcp 80-81 connects there and nowhere else, UDP is dropped, and a
// connection established before the policy denied it keeps working (stateful
// by decision). Needs root; everything has a unique prefix, removed in after().
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { diff } from "../diff.ts";
import { emptyNamespace, type KernelState } from "../kernel-state.ts";
import type { Scope } from "../names.ts";
import { NFT_TABLE } from "../names.ts";
import { describePlan } from "../plan.ts";
import { policyChains, type SandboxPolicy } from "../render-policy.ts";
import { apply } from "./apply.ts";
import { cleanup } from "./cleanup.ts";
import { run } from "./exec.ts";
import { observe } from "./observe.ts";
import { namespacesStartingWith, removeNamespaces } from "./testbed.ts";

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

describe("policy in a sandbox on the kernel", {
  skip: root ? false : "needs root (creates network namespaces)",
}, () => {
  const prefix = `t-pol-${randomBytes(3).toString("hex")}-`;
  const scope: Scope = { hostNs: `${prefix}h`, prefix: `${prefix}h-` };
  const sb = `${scope.prefix}sb-taskaaaaaaaa`;
  const peer = `${prefix}peer`;
  const stops: (() => void)[] = [];

  /** What the kernel holds now, with the sandbox's table being `policy`'s. */
  async function desired(p: SandboxPolicy): Promise<KernelState> {
    const state = await observe(scope);
    const { chains, maps } = policyChains(p);
    state.namespaces[0]!.nft = { family: "ip", name: NFT_TABLE, chains, maps };
    return state;
  }

  async function sync(p: SandboxPolicy) {
    const want = await desired(p);
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
    await sync({ ingress: { ports: ["10.9.0.1 . tcp . 80-81"], other: [] } });
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
    const plan = await sync({ ingress: { ports: [], other: [] } });
    assert.deepEqual(
      plan.steps.map((s) => s.kind),
      ["nft-element-del"],
    );
    assert.equal(await once("tcp", 80), "ERR ETIMEDOUT");
    long.stdin.write("go\n");
    await ended;
    assert.match(out, /got 2/);
    assert.deepEqual(
      diff(await observe(scope), await desired({ ingress: { ports: [], other: [] } })).steps,
      [],
    );
  });
});
