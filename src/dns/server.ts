// The node's embedded DNS server: one object in the agent's process answers
// 127.0.0.11:53 in every sandbox on the node. Each sandbox's UDP socket and
// TCP listener (opened inside its namespace, see netns-sockets.ts) is
// attached under its owner's id, so a query's socket says who asked and
// therefore which names it may see (records.ts). Names that are not ours are
// forwarded to the upstream resolvers from this process's own namespace — the
// host's view of DNS, whatever the sandbox can or cannot reach.
import { randomInt } from "node:crypto";
import dgram from "node:dgram";
import net from "node:net";
import { type DnsTable, type Resolution, resolve } from "./records.ts";
import {
  answersQuestion,
  aReply,
  CLASS_ANY,
  CLASS_IN,
  emptyReply,
  encodeA,
  encodePtr,
  frame,
  messageId,
  NOERROR,
  NXDOMAIN,
  parseQuery,
  type Query,
  REFUSED,
  rcodeOf,
  recordReply,
  SERVFAIL,
  TcpDeframer,
  TYPE_A,
  TYPE_ANY,
  TYPE_PTR,
  UDP_MAX,
  withId,
} from "./wire.ts";

export interface SandboxSockets {
  udp: dgram.Socket;
  tcp: net.Server;
}

export interface DnsServerOptions {
  /** Resolvers for names that are not ours, tried in order: "IP", "IP:PORT" or "[IPv6]:PORT". */
  upstreams: string[];
  /** How long to wait for one upstream before trying the next. Default 2000. */
  timeoutMs?: number;
  log?: (line: string) => void;
}

export interface DnsStats {
  queries: number;
  forwarded: number;
  /** Forwarded queries no upstream answered in time (the client got SERVFAIL). */
  upstreamFailures: number;
}

interface Upstream {
  host: string;
  port: number;
  family: 4 | 6;
}

/** A name's answers as the server sends them, encoded once per table. */
interface Cached {
  res: Resolution;
  /** A records, for kind "a". */
  a?: Buffer;
  count: number;
  /** The PTR record, for kind "ptr". */
  ptr?: Buffer;
  /** Where the next reply starts in a list of several addresses (round robin). */
  next: number;
}

interface Sandbox {
  id: string;
  sockets: SandboxSockets;
  /** By qname. Cleared whenever the table changes; cleared when full (names asked are unbounded). */
  cache: Map<string, Cached>;
  conns: Set<net.Socket>;
  closed: boolean;
}

interface PendingUdp {
  /** The query as sent upstream: the client's bytes with our ID. */
  query: Buffer;
  questionEnd: number;
  clientId: number;
  /** Index of the upstream asked last. */
  tried: number;
  timer: NodeJS.Timeout;
  reply: (msg: Buffer) => void;
}

const CACHE_MAX = 4096;
const MAX_PENDING = 8192;
const TCP_IDLE_MS = 10_000;
const TCP_MAX = 65_535;

export class DnsServer {
  readonly stats: DnsStats = { queries: 0, forwarded: 0, upstreamFailures: 0 };
  private readonly upstreams: Upstream[];
  private readonly timeoutMs: number;
  private readonly log: (line: string) => void;
  private table: DnsTable = { askers: new Map() };
  private readonly sandboxes = new Map<string, Sandbox>();
  /** Forwarded UDP queries by the ID we gave them upstream. */
  private readonly pending = new Map<number, PendingUdp>();
  private readonly upstreamSockets = new Map<4 | 6, dgram.Socket>();
  private readonly tcpForwards = new Set<net.Socket>();
  private closed = false;

  constructor(opts: DnsServerOptions) {
    this.upstreams = opts.upstreams.map(parseUpstream);
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.log = opts.log ?? (() => {});
  }

  /** Answers from this table from now on (queries in flight upstream are unaffected). */
  setTable(t: DnsTable): void {
    this.table = t;
    for (const sb of this.sandboxes.values()) sb.cache.clear();
  }

  /** Serves the sandbox of `ownerId` on these sockets (replacing and closing any it had).
   * Once the server is closed, closes them instead. */
  attach(ownerId: string, sockets: SandboxSockets): void {
    if (this.closed) {
      // Opened while the agent was stopping: nobody will serve them.
      sockets.udp.close();
      sockets.tcp.close();
      return;
    }
    this.detach(ownerId);
    const sb: Sandbox = { id: ownerId, sockets, cache: new Map(), conns: new Set(), closed: false };
    this.sandboxes.set(ownerId, sb);
    const { udp, tcp } = sockets;
    udp.on("error", (err) => this.log(`dns: ${ownerId}: udp: ${err.message}`));
    udp.on("message", (msg, rinfo) => {
      const r = this.handle(sb, msg, UDP_MAX);
      if (r === null) return;
      if (Buffer.isBuffer(r)) udp.send(r, rinfo.port, rinfo.address);
      else
        this.forwardUdp(msg, r, (reply) => {
          if (!sb.closed) udp.send(reply, rinfo.port, rinfo.address);
        });
    });
    tcp.on("error", (err) => this.log(`dns: ${ownerId}: tcp: ${err.message}`));
    tcp.on("connection", (conn) => this.serveTcp(sb, conn));
  }

  /** Stops serving the sandbox and closes its sockets. */
  detach(ownerId: string): void {
    const sb = this.sandboxes.get(ownerId);
    if (!sb) return;
    this.sandboxes.delete(ownerId);
    sb.closed = true;
    try {
      sb.sockets.udp.close();
    } catch {
      // Already closed.
    }
    sb.sockets.tcp.close();
    for (const c of sb.conns) c.destroy();
  }

  /** Detaches every sandbox and drops queries in flight upstream. */
  close(): void {
    this.closed = true;
    for (const id of [...this.sandboxes.keys()]) this.detach(id);
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
    for (const s of this.upstreamSockets.values()) s.close();
    this.upstreamSockets.clear();
    for (const s of this.tcpForwards) s.destroy();
    this.tcpForwards.clear();
  }

  /** The reply to `msg`; a Query when it must be forwarded; null to drop it. */
  private handle(sb: Sandbox, msg: Buffer, maxSize: number): Buffer | Query | null {
    this.stats.queries++;
    const q = parseQuery(msg);
    if (!q) return null;
    if (q.error) return emptyReply(msg, q, q.error, false);
    if (q.qclass !== CLASS_IN && q.qclass !== CLASS_ANY) return emptyReply(msg, q, REFUSED, false);
    let c = sb.cache.get(q.qname);
    if (!c) {
      c = this.encode(resolve(this.table, sb.id, q.qname));
      if (sb.cache.size >= CACHE_MAX) sb.cache.clear();
      sb.cache.set(q.qname, c);
    }
    const anyType = q.qtype === TYPE_ANY;
    switch (c.res.kind) {
      case "a": {
        if (q.qtype !== TYPE_A && !anyType) return emptyReply(msg, q, NOERROR, true);
        const out = aReply(msg, q, c.a!, c.next, maxSize);
        if (c.count > 1) c.next = (c.next + 1) % c.count;
        return out;
      }
      case "ptr":
        if (q.qtype !== TYPE_PTR && !anyType) return emptyReply(msg, q, NOERROR, true);
        return recordReply(msg, q, c.ptr!, maxSize);
      case "nxdomain":
        return emptyReply(msg, q, NXDOMAIN, true);
      case "servfail":
        return emptyReply(msg, q, SERVFAIL, false);
      case "refused":
        return emptyReply(msg, q, REFUSED, false);
      case "forward":
        if (this.upstreams.length === 0) return emptyReply(msg, q, SERVFAIL, false);
        this.stats.forwarded++;
        return q;
    }
  }

  private encode(res: Resolution): Cached {
    if (res.kind === "a") {
      const { addrs, ttl } = res.record;
      return { res, a: encodeA(addrs, ttl), count: addrs.length, next: 0 };
    }
    if (res.kind === "ptr") {
      try {
        return { res, ptr: encodePtr(res.name, res.ttl), count: 1, next: 0 };
      } catch (err) {
        this.log(`dns: cannot answer PTR with ${res.name}: ${(err as Error).message}`);
        return { res: { kind: "servfail" }, count: 0, next: 0 };
      }
    }
    return { res, count: 0, next: 0 };
  }

  private serveTcp(sb: Sandbox, conn: net.Socket): void {
    if (sb.closed) {
      conn.destroy();
      return;
    }
    sb.conns.add(conn);
    conn.setTimeout(TCP_IDLE_MS, () => conn.destroy());
    conn.on("close", () => sb.conns.delete(conn));
    conn.on("error", () => {});
    const deframer = new TcpDeframer();
    const send = (reply: Buffer) => {
      if (!conn.destroyed) conn.write(frame(reply));
    };
    conn.on("data", (chunk: Buffer) => {
      for (const msg of deframer.push(chunk)) {
        const r = this.handle(sb, msg, TCP_MAX);
        if (r === null) {
          conn.destroy();
          return;
        }
        if (Buffer.isBuffer(r)) send(r);
        else this.forwardTcp(msg, r, send);
      }
    });
  }

  private forwardUdp(msg: Buffer, q: Query, reply: (msg: Buffer) => void): void {
    if (this.pending.size >= MAX_PENDING) {
      reply(emptyReply(msg, q, SERVFAIL, false));
      return;
    }
    // A random ID per forwarded query: the upstream socket is on the host, and
    // a guessable ID would make spoofed answers easy to inject.
    let id = randomInt(65536);
    while (this.pending.has(id)) id = (id + 1) & 0xffff;
    const p: PendingUdp = {
      query: withId(msg, id),
      questionEnd: q.questionEnd,
      clientId: q.id,
      tried: -1,
      timer: undefined as unknown as NodeJS.Timeout,
      reply,
    };
    this.pending.set(id, p);
    this.sendUpstream(id, p);
  }

  /** Asks the next upstream, or answers SERVFAIL when none is left. */
  private sendUpstream(id: number, p: PendingUdp): void {
    clearTimeout(p.timer);
    p.tried++;
    const up = this.upstreams[p.tried];
    if (!up) {
      this.pending.delete(id);
      this.stats.upstreamFailures++;
      const q = parseQuery(p.query)!;
      q.id = p.clientId;
      p.reply(emptyReply(p.query, q, SERVFAIL, false));
      return;
    }
    p.timer = setTimeout(() => this.sendUpstream(id, p), this.timeoutMs);
    const tried = p.tried;
    this.upstreamSocket(up.family).send(p.query, up.port, up.host, (err) => {
      // Unreachable and the like: no point waiting out the timeout.
      if (err && this.pending.get(id) === p && p.tried === tried) this.sendUpstream(id, p);
    });
  }

  private upstreamSocket(family: 4 | 6): dgram.Socket {
    let s = this.upstreamSockets.get(family);
    if (!s) {
      s = dgram.createSocket(family === 4 ? "udp4" : "udp6");
      s.on("error", (err) => this.log(`dns: upstream socket: ${err.message}`));
      s.on("message", (msg, rinfo) => this.onUpstreamReply(msg, rinfo));
      this.upstreamSockets.set(family, s);
    }
    return s;
  }

  private onUpstreamReply(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const id = messageId(msg);
    const p = this.pending.get(id);
    if (!p) return;
    // Only from an upstream we asked (a slow earlier one still counts), and
    // only an answer to the very question we sent.
    const from = this.upstreams.findIndex((u) => u.host === rinfo.address && u.port === rinfo.port);
    if (from < 0 || from > p.tried || !answersQuestion(msg, p.query, p.questionEnd)) return;
    const rcode = rcodeOf(msg);
    if ((rcode === SERVFAIL || rcode === REFUSED) && p.tried < this.upstreams.length - 1) {
      this.sendUpstream(id, p);
      return;
    }
    clearTimeout(p.timer);
    this.pending.delete(id);
    p.reply(withId(msg, p.clientId));
  }

  /** TCP queries go upstream over TCP, one connection each, the upstreams in order. */
  private forwardTcp(msg: Buffer, q: Query, reply: (msg: Buffer) => void): void {
    const tryFrom = (i: number) => {
      if (this.closed) return;
      const up = this.upstreams[i];
      if (!up) {
        this.stats.upstreamFailures++;
        reply(emptyReply(msg, q, SERVFAIL, false));
        return;
      }
      let done = false;
      const sock = net.connect({ host: up.host, port: up.port });
      this.tcpForwards.add(sock);
      const finish = (answer: Buffer | null) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.tcpForwards.delete(sock);
        sock.destroy();
        if (answer) reply(answer);
        else tryFrom(i + 1);
      };
      const timer = setTimeout(() => finish(null), this.timeoutMs);
      const deframer = new TcpDeframer();
      sock.on("connect", () => sock.write(frame(msg)));
      sock.on("data", (chunk: Buffer) => {
        const [answer] = deframer.push(chunk);
        if (answer === undefined) return;
        finish(
          messageId(answer) === q.id && answersQuestion(answer, msg, q.questionEnd) ? answer : null,
        );
      });
      sock.on("error", () => finish(null));
      sock.on("close", () => finish(null));
    };
    tryFrom(0);
  }
}

/** "IP", "IP:PORT", "[IPv6]" or "[IPv6]:PORT"; a bare IPv6 address takes port 53. */
export function parseUpstream(s: string): Upstream {
  let host = s;
  let port = 53;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (bracket) {
    host = bracket[1]!;
    if (bracket[2]) port = Number(bracket[2]);
  } else if (net.isIPv4(s.split(":")[0]!) && s.includes(":")) {
    const i = s.lastIndexOf(":");
    host = s.slice(0, i);
    port = Number(s.slice(i + 1));
  }
  const family = net.isIP(host);
  if ((family !== 4 && family !== 6) || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`invalid DNS upstream "${s}": want IP, IP:PORT or [IPv6]:PORT`);
  }
  return { host, port, family };
}
