// The embedded DNS end to end, as root: sockets opened inside two sandbox
// namespaces, one DnsServer in this process, and the real `dig` asking from
// inside the namespaces over UDP and TCP. The upstream is a static responder
// on 127.0.0.1 in this (the host) namespace; nothing leaves the machine.
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import dgram from "node:dgram";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { parseIp } from "../core/ipam/index.ts";
import { dnsView, TASK } from "./fixtures.ts";
import { openSandboxSockets } from "./netns-sockets.ts";
import { dnsTable } from "./records.ts";
import { DnsServer, parseUpstream } from "./server.ts";
import { aReply, encodeA, frame, parseQuery, TcpDeframer } from "./wire.ts";

const run = promisify(execFile);
const root = process.getuid?.() === 0;
const hasDig = (() => {
  try {
    execFileSync("dig", ["-v"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

const UPSTREAM_ANSWER = "192.0.2.53";

/** Answers every query with one A record, over UDP and TCP on the same port of 127.0.0.1. */
async function staticResponder(): Promise<{ port: number; close: () => void; asked: string[] }> {
  const asked: string[] = [];
  const answer = (msg: Buffer): Buffer | null => {
    const q = parseQuery(msg);
    if (!q || q.error) return null;
    asked.push(q.qname);
    return aReply(msg, q, encodeA([parseIp(UPSTREAM_ANSWER)], 60), 0, 512);
  };
  for (;;) {
    const udp = dgram.createSocket("udp4");
    await new Promise<void>((ok) => udp.bind(0, "127.0.0.1", ok));
    const port = udp.address().port;
    const tcp = net.createServer((conn) => {
      const d = new TcpDeframer();
      conn.on("data", (chunk: Buffer) => {
        for (const m of d.push(chunk)) {
          const r = answer(m);
          if (r) conn.write(frame(r));
        }
      });
      conn.on("error", () => {});
    });
    const listening = await new Promise<boolean>((ok) => {
      tcp.once("error", () => ok(false));
      tcp.listen(port, "127.0.0.1", () => ok(true));
    });
    if (!listening) {
      udp.close();
      continue;
    }
    udp.on("message", (m, r) => {
      const out = answer(m);
      if (out) udp.send(out, r.port, r.address);
    });
    return {
      port,
      asked,
      close: () => {
        udp.close();
        tcp.close();
      },
    };
  }
}

/** A UDP port on 127.0.0.1 where nobody answers. */
async function deadPort(): Promise<number> {
  const s = dgram.createSocket("udp4");
  await new Promise<void>((ok) => s.bind(0, "127.0.0.1", ok));
  const port = s.address().port;
  s.close();
  return port;
}

interface DigResult {
  status: string;
  aa: boolean;
  answers: { name: string; ttl: number; type: string; data: string }[];
  ms: number;
}

async function dig(ns: string, ...args: string[]): Promise<DigResult> {
  const started = Date.now();
  const { stdout } = await run("nsenter", [
    `--net=/run/netns/${ns}`,
    "dig",
    "+tries=1",
    "+time=3",
    "+noall",
    "+comments",
    "+answer",
    "@127.0.0.11",
    ...args,
  ]);
  const ms = Date.now() - started;
  const status = /status: (\w+)/.exec(stdout)?.[1] ?? `no reply: ${stdout}`;
  const aa = / flags:[^;]*\baa\b/.test(stdout);
  const answers = stdout
    .split("\n")
    .filter((l) => l && !l.startsWith(";"))
    .map((l) => {
      const [name, ttl, , type, data] = l.split(/\s+/);
      return { name: name!, ttl: Number(ttl), type: type!, data: data! };
    });
  return { status, aa, answers, ms };
}

const data = (r: DigResult) => r.answers.map((a) => a.data);

describe("parseUpstream", () => {
  it("reads IP, IP:PORT and [IPv6]:PORT", () => {
    assert.deepEqual(parseUpstream("10.0.0.2"), { host: "10.0.0.2", port: 53, family: 4 });
    assert.deepEqual(parseUpstream("127.0.0.1:5353"), {
      host: "127.0.0.1",
      port: 5353,
      family: 4,
    });
    assert.deepEqual(parseUpstream("[::1]:54"), { host: "::1", port: 54, family: 6 });
    assert.deepEqual(parseUpstream("fd00::1"), { host: "fd00::1", port: 53, family: 6 });
    assert.throws(() => parseUpstream("dns.example"), /invalid DNS upstream/);
    assert.throws(() => parseUpstream("10.0.0.2:0"), /invalid DNS upstream/);
  });
});

describe("embedded DNS in sandboxes", {
  skip: !root ? "needs root (creates network namespaces)" : !hasDig ? "needs dig" : false,
}, () => {
  const prefix = `sndns-${randomBytes(3).toString("hex")}-`;
  const nsA = `${prefix}a`; // web.1: front (egress), back (internal); server with upstreams
  const nsB = `${prefix}b`; // api.1: front; server without upstreams
  const logs: string[] = [];
  let upstream: Awaited<ReturnType<typeof staticResponder>>;
  let withUpstreams: DnsServer;
  let without: DnsServer;

  before(async () => {
    for (const ns of [nsA, nsB]) {
      execFileSync("ip", ["netns", "add", ns]);
      execFileSync("ip", ["-n", ns, "link", "set", "lo", "up"]);
    }
    upstream = await staticResponder();
    const table = dnsTable(dnsView());
    // The first upstream never answers: each query waits out its timeout, then the second answers.
    withUpstreams = new DnsServer({
      upstreams: [`127.0.0.1:${await deadPort()}`, `127.0.0.1:${upstream.port}`],
      timeoutMs: 300,
      log: (l) => logs.push(l),
    });
    withUpstreams.setTable(table);
    withUpstreams.attach(TASK.web1, await openSandboxSockets(`/run/netns/${nsA}`));
    without = new DnsServer({ upstreams: [], log: (l) => logs.push(l) });
    without.setTable(table);
    without.attach(TASK.api1, await openSandboxSockets(`/run/netns/${nsB}`));
  });

  after(() => {
    withUpstreams?.close();
    without?.close();
    upstream?.close();
    for (const ns of [nsA, nsB]) {
      try {
        execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" });
      } catch {
        // Never created.
      }
    }
    // Nothing of ours may be left behind, even if a step above failed.
    const left = execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
    assert.ok(!left.includes(prefix), `namespaces left: ${left}`);
  });

  for (const transport of ["udp", "tcp"]) {
    const extra = transport === "tcp" ? ["+tcp"] : [];
    describe(`over ${transport}`, () => {
      it("answers a service name with its VIP, authoritatively", async () => {
        const r = await dig(nsA, ...extra, "web");
        assert.equal(r.status, "NOERROR");
        assert.ok(r.aa);
        assert.deepEqual(r.answers, [{ name: "web.", ttl: 10, type: "A", data: "10.0.1.100" }]);
      });

      it("answers tasks.<service>, a task name and an alias", async () => {
        assert.deepEqual(data(await dig(nsA, ...extra, "tasks.web")).sort(), [
          "10.0.1.2",
          "10.0.1.3",
        ]);
        assert.deepEqual(data(await dig(nsA, ...extra, `web.2`)), ["10.0.1.3"]);
        assert.deepEqual(data(await dig(nsA, ...extra, `WEB.1.${TASK.web1}`)), ["10.0.1.2"]);
        assert.deepEqual(data(await dig(nsA, ...extra, "www")), ["10.0.1.100"]);
        assert.deepEqual(data(await dig(nsA, ...extra, "dbg")), ["10.0.1.50"]);
      });

      it("answers PTR for tasks and VIPs", async () => {
        assert.deepEqual(data(await dig(nsA, ...extra, "-x", "10.0.1.2")), [`web.1.${TASK.web1}.`]);
        assert.deepEqual(data(await dig(nsA, ...extra, "-x", "10.0.2.100")), ["web."]);
      });

      it("says NXDOMAIN for a name on a network the asker does not share", async () => {
        const r = await dig(nsA, ...extra, "secret");
        assert.equal(r.status, "NXDOMAIN");
        assert.deepEqual(r.answers, []);
      });

      it("says NOERROR without answers for our name asked as another type", async () => {
        const r = await dig(nsA, ...extra, "web", "AAAA");
        assert.equal(r.status, "NOERROR");
        assert.deepEqual(r.answers, []);
      });

      it("forwards other names upstream, past one that does not answer", async () => {
        const r = await dig(nsA, ...extra, "example.com");
        assert.equal(r.status, "NOERROR");
        assert.deepEqual(data(r), [UPSTREAM_ANSWER]);
        assert.ok(upstream.asked.includes("example.com"));
      });

      it("answers SERVFAIL at once when there is no upstream", async () => {
        const r = await dig(nsB, ...extra, "example.com");
        assert.equal(r.status, "SERVFAIL");
        assert.ok(r.ms < 1000, `took ${r.ms} ms`);
        // The same server still answers its own names there.
        assert.deepEqual(data(await dig(nsB, ...extra, "web")), ["10.0.1.100"]);
      });
    });
  }

  it("rotates a round-robin list per query", async () => {
    const firsts = new Set<string>();
    for (let i = 0; i < 4; i++) firsts.add(data(await dig(nsA, "db"))[0]!);
    assert.deepEqual([...firsts].sort(), ["10.0.2.10", "10.0.2.11"]);
  });

  it("opening twice in one namespace fails clearly; after detach it works again", async () => {
    await assert.rejects(openSandboxSockets(`/run/netns/${nsA}`), /EADDRINUSE/);
    withUpstreams.detach(TASK.web1);
    withUpstreams.attach(TASK.web1, await openSandboxSockets(`/run/netns/${nsA}`));
    assert.deepEqual(data(await dig(nsA, "web")), ["10.0.1.100"]);
  });

  it("fails clearly for a namespace that does not exist", async () => {
    await assert.rejects(
      openSandboxSockets(`/run/netns/${prefix}missing`),
      /network namespace not found/,
    );
  });
});
