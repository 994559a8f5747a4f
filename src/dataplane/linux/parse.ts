// Readers for what `ip -j`, `bridge -j` and `nft list` print. Pure, so they
// are tested on captured output without root. Only the fields swarmnet
// manages are kept; everything else the kernel reports is ignored.
import { DataplaneError } from "../errors.ts";
import {
  byName,
  type Counter,
  type FdbEntry,
  type Link,
  type LinkKind,
  MAIN_TABLE,
  type NeighEntry,
  type NftChain,
  type NftCounters,
  type NftMap,
  type NftTable,
  type Route,
  type Rule,
} from "../kernel-state.ts";

/** A device as observed, with what is needed to find its veth peer. */
export interface RawLink extends Link {
  ifindex: number;
  /** veth only: the peer's ifindex, and its namespace id as seen from here
   * (undefined: same namespace). */
  peerIndex?: number;
  peerNsid?: number;
}

type Json = Record<string, unknown>;

function list(doc: unknown, what: string): Json[] {
  if (!Array.isArray(doc))
    throw new DataplaneError("DP_PARSE_FAILED", `${what}: expected a JSON list`);
  return doc as Json[];
}

const KINDS: Record<string, LinkKind> = { bridge: "bridge", vxlan: "vxlan", veth: "veth" };

/** `ip -j -d addr show`: devices with their IPv4 addresses. */
export function parseLinks(doc: unknown): RawLink[] {
  return list(doc, "ip addr").map((d) => {
    const info = (d.linkinfo ?? {}) as Json;
    const kindName = typeof info.info_kind === "string" ? info.info_kind : "";
    const kind: LinkKind = d.link_type === "loopback" ? "loopback" : (KINDS[kindName] ?? "other");
    const flags = Array.isArray(d.flags) ? (d.flags as string[]) : [];
    const link: RawLink = {
      name: String(d.ifname),
      kind,
      ifindex: Number(d.ifindex),
      mtu: Number(d.mtu),
      mac: String(d.address ?? ""),
      up: flags.includes("UP"),
      addresses: (Array.isArray(d.addr_info) ? (d.addr_info as Json[]) : [])
        .filter((a) => a.family === "inet")
        .map((a) => `${a.local}/${a.prefixlen}`)
        .sort(),
    };
    if (typeof d.master === "string") link.master = d.master;
    if (typeof d.ifalias === "string") link.alias = d.ifalias;
    const slave = info.info_slave_data as Json | undefined;
    if (info.info_slave_kind === "bridge" && slave) link.isolated = slave.isolated === true;
    if (kind === "vxlan") {
      const v = (info.info_data ?? {}) as Json;
      link.vxlan = {
        vni: Number(v.id),
        port: Number(v.port),
        local: String(v.local ?? ""),
        underlay: "",
        learning: v.learning === true,
        proxy: v.proxy === true,
      };
    }
    if (kind === "veth" && typeof d.link_index === "number") {
      link.peerIndex = d.link_index;
      if (typeof d.link_netnsid === "number") link.peerNsid = d.link_netnsid;
    }
    return link;
  });
}

/** `ip -j netns list-id`: namespace id → name, for the named ones. */
export function parseNsids(doc: unknown): Map<number, string> {
  const ids = new Map<number, string>();
  for (const e of list(doc, "ip netns list-id")) {
    if (typeof e.nsid === "number" && typeof e.name === "string") ids.set(e.nsid, e.name);
  }
  return ids;
}

/** Table names `ip` prints instead of numbers. */
const TABLE_NAMES: Record<string, number> = { default: 253, main: MAIN_TABLE, local: 255 };

/** A table as `ip -j` prints it ("main", "1002"); absent means main. */
function tableNumber(v: unknown): number | undefined {
  if (v === undefined) return MAIN_TABLE;
  const text = String(v);
  if (Object.hasOwn(TABLE_NAMES, text)) return TABLE_NAMES[text];
  return /^\d+$/.test(text) ? Number(text) : undefined;
}

/** `ip -j route show table all` (or without `table`): IPv4 routes with a
 * gateway that someone added, in any table but local (connected and local
 * routes are the kernel's; IPv6 is not swarmnet's). */
export function parseRoutes(doc: unknown): Route[] {
  const routes: Route[] = [];
  for (const r of list(doc, "ip route")) {
    if (r.protocol === "kernel" || typeof r.gateway !== "string" || r.gateway.includes(":"))
      continue;
    const table = tableNumber(r.table);
    if (table === undefined || table === TABLE_NAMES.local) continue;
    const route: Route = { dst: String(r.dst), via: r.gateway, dev: String(r.dev) };
    if (table !== MAIN_TABLE) route.table = table;
    routes.push(route);
  }
  return routes;
}

/** `ip -j rule show`: every rule but the kernel's three defaults (local at 0,
 * main at 32766, default at 32767). Selectors other than fwmark are not read:
 * swarmnet writes none, and deleting by priority and table matches any. */
export function parseRules(doc: unknown): Rule[] {
  const defaults = new Map([
    [0, TABLE_NAMES.local],
    [32766, TABLE_NAMES.main],
    [32767, TABLE_NAMES.default],
  ]);
  const rules: Rule[] = [];
  for (const r of list(doc, "ip rule")) {
    const priority = Number(r.priority);
    const table = tableNumber(r.table);
    if (table === undefined || !Number.isInteger(priority)) continue;
    const fwmark = typeof r.fwmark === "string" ? Number(r.fwmark) : undefined;
    if (fwmark === undefined && defaults.get(priority) === table) continue;
    rules.push(fwmark === undefined ? { priority, table } : { priority, fwmark, table });
  }
  return rules;
}

/** `ip -j neigh show`: permanent entries only; learned ones come and go. */
export function parseNeigh(doc: unknown): NeighEntry[] {
  return list(doc, "ip neigh")
    .filter((n) => Array.isArray(n.state) && n.state.includes("PERMANENT") && n.lladdr)
    .map((n) => ({ dev: String(n.dev), ip: String(n.dst), mac: String(n.lladdr) }));
}

/** `bridge -j fdb show`: the VTEP entries (`self`, with a dst); the bridge's own
 * learned and multicast entries are not swarmnet's. */
export function parseFdb(doc: unknown): FdbEntry[] {
  return list(doc, "bridge fdb")
    .filter((f) => typeof f.dst === "string" && Array.isArray(f.flags) && f.flags.includes("self"))
    .map((f) => ({ dev: String(f.ifname), mac: String(f.mac), dst: String(f.dst) }));
}

/** `ip -j netconf show`: IPv4 forwarding of "all" (what net.ipv4.ip_forward sets). */
export function parseForwarding(doc: unknown): boolean {
  return list(doc, "ip netconf").some(
    (e) => e.family === "inet" && e.interface === "all" && e.forwarding === true,
  );
}

const RP_FILTER: Record<string, 0 | 1 | 2> = { off: 0, strict: 1, loose: 2 };

/** `ip -j netconf show`: net.ipv4.conf.all.rp_filter (0 when not reported). */
export function parseRpFilter(doc: unknown): 0 | 1 | 2 {
  const all = list(doc, "ip netconf").find((e) => e.family === "inet" && e.interface === "all");
  return RP_FILTER[String(all?.rp_filter)] ?? 0;
}

/** `nft list table ip NAME`: chains with their hook line and rules, maps and
 * sets with their elements, all as text the way nft prints them (what render
 * writes, so they compare as text). Other objects (flowtables, counters) are
 * skipped. Counter values are never part of the table: a rule's `counter
 * packets 5 bytes 420` reads as `counter`, an element's as nothing; they go
 * to `counters` when given. */
export function parseNftTable(text: string, counters?: NftCounters): NftTable {
  const lines = text.split("\n").map((l) => l.trim());
  const head = /^table (ip) (\S+) \{$/.exec(lines[0] ?? "");
  if (!head) throw new DataplaneError("DP_PARSE_FAILED", `nft: unexpected output: ${lines[0]}`);
  const table: NftTable = { family: "ip", name: head[2]!, chains: [], maps: [] };
  let i = 1;
  /** The lines of the block opened on the line before i, up to its closing "}". */
  const body = (): string[] => {
    const start = i;
    let depth = 1;
    for (; i < lines.length; i++) {
      depth += braces(lines[i]!);
      if (depth === 0) return lines.slice(start, i++);
    }
    throw new DataplaneError("DP_PARSE_FAILED", "nft: unterminated block");
  };
  while (i < lines.length) {
    const line = lines[i++]!;
    if (line === "" || line === "}") continue;
    const chain = /^chain (\S+) \{$/.exec(line);
    const map = /^(map|set) (\S+) \{$/.exec(line);
    if (chain) table.chains.push(parseChain(chain[1]!, body(), counters));
    else if (map) table.maps.push(parseMap(map[2]!, map[1] === "map", body(), counters));
    else if (line.endsWith("{")) body(); // not swarmnet's kind of object
  }
  table.chains.sort(byName);
  table.maps.sort(byName);
  return table;
}

/** Opened minus closed braces outside quoted strings. */
function braces(line: string): number {
  if (!line.includes("{") && !line.includes("}")) return 0;
  let n = 0;
  let quoted = false;
  for (let k = 0; k < line.length; k++) {
    const c = line[k];
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === "{") n++;
    else if (!quoted && c === "}") n--;
  }
  return n;
}

// A counter statement as nft prints it, with its values.
const COUNTER = /\bcounter packets (\d+) bytes (\d+)/;

/** A rule without its counter's values, and the counter (first one) if any. */
function stripCounter(rule: string): { rule: string; counter?: Counter } {
  const m = COUNTER.exec(rule);
  if (!m) return { rule };
  const text = rule.replace(new RegExp(COUNTER.source, "g"), "counter");
  return { rule: text, counter: { packets: Number(m[1]), bytes: Number(m[2]) } };
}

function parseChain(name: string, lines: string[], counters?: NftCounters): NftChain {
  const chain: NftChain = { name, rules: [] };
  for (const line of lines) {
    if (line === "" || line.startsWith("comment ")) continue;
    const hook =
      chain.rules.length === 0 && line.startsWith("type ")
        ? /^type (\w+) hook (\w+) priority ([^;]+); policy (\w+);$/.exec(line)
        : null;
    if (hook) {
      chain.type = hook[1] as NftChain["type"];
      chain.hook = hook[2] as NftChain["hook"];
      chain.priority = hook[3]!;
      chain.policy = hook[4] as NftChain["policy"];
    } else {
      const r = stripCounter(line);
      chain.rules.push(r.rule);
      if (counters && r.counter) {
        const list = counters.rules[name] ?? [];
        list.push({ rule: r.rule, counter: r.counter });
        counters.rules[name] = list;
      }
    }
  }
  return chain;
}

/** A map or set. `typeof` maps keep "typeof …" as their type: never what render
 * writes, so diff re-creates them. Flags are read (an interval set differs
 * from a plain one); size and the like are not. */
function parseMap(name: string, isMap: boolean, lines: string[], counters?: NftCounters): NftMap {
  const m: NftMap = { name, type: "", elements: {} };
  let elements = "";
  for (let k = 0; k < lines.length; k++) {
    const line = lines[k]!;
    const type = /^(type|typeof) (.+)$/.exec(line);
    if (type && m.type === "") {
      const [key, value] = splitOnce(type[2]!, " : ");
      m.type = type[1] === "type" ? key : `typeof ${key}`;
      if (isMap) m.map = value ?? "";
    } else if (line === "counter") {
      m.counter = true;
    } else if (line.startsWith("flags ")) {
      // nft prints several flags comma-separated: "flags constant,interval".
      m.flags = line
        .slice("flags ".length)
        .split(",")
        .map((f) => f.trim());
    } else if (line.startsWith("elements = {")) {
      // Long lists wrap: the list runs on until its braces balance.
      let text = line.slice("elements = ".length);
      let depth = braces(text);
      while (depth > 0 && k + 1 < lines.length) {
        const next = lines[++k]!;
        text += ` ${next}`;
        depth += braces(next);
      }
      elements = text.trim().slice(1, -1);
    }
  }
  const seen: Record<string, Counter> = {};
  for (const e of splitTop(elements)) {
    const [k, value] = isMap ? splitOnce(e, " : ") : [e, ""];
    // "10.0.1.5 . tcp . 80 counter packets 3 bytes 180 : accept"
    const c = ELEMENT_COUNTER.exec(k);
    const key = c ? k.slice(0, c.index) : k;
    if (c) seen[key] = { packets: Number(c[1]), bytes: Number(c[2]) };
    m.elements[key] = value ?? "";
  }
  if (counters && Object.keys(seen).length > 0) counters.elements[name] = seen;
  return m;
}

const ELEMENT_COUNTER = / counter packets (\d+) bytes (\d+)$/;

function splitOnce(text: string, sep: string): [string, string | undefined] {
  const at = text.indexOf(sep);
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + sep.length)];
}

/** Splits an element list at its top-level commas (not inside braces or quotes). */
function splitTop(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let k = 0; k < text.length; k++) {
    const c = text[k];
    if (c === '"') quoted = !quoted;
    else if (quoted) continue;
    else if (c === "{") depth++;
    else if (c === "}") depth--;
    else if (c === "," && depth === 0) {
      out.push(text.slice(start, k));
      start = k + 1;
    }
  }
  out.push(text.slice(start));
  return out.map((e) => e.trim()).filter((e) => e !== "");
}

/** Ends the JSON part of observe's per-namespace read; nft's listing and its
 * exit status follow (linux/observe.ts). */
export const NFT_MARK = "#swarmnet-nft";

/** Splits what observe's per-namespace script prints: the JSON documents,
 * `NFT_MARK`, nft's listing, and nft's exit status as the last line. */
export function splitNsRead(stdout: string): { json: string; nft: string; nftStatus: number } {
  const at = stdout.indexOf(`\n${NFT_MARK}\n`);
  const rest = at < 0 ? "" : stdout.slice(at + NFT_MARK.length + 2).trimEnd();
  const nl = rest.lastIndexOf("\n");
  const status = rest.slice(nl + 1);
  if (at < 0 || !/^\d+$/.test(status)) {
    throw new DataplaneError("DP_PARSE_FAILED", "observe: namespace read cut short");
  }
  return { json: stdout.slice(0, at), nft: rest.slice(0, nl + 1), nftStatus: Number(status) };
}
