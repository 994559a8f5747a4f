// Plan → command lines, grouped into as few processes as possible: per phase,
// one `ip -n NS -batch -` and one `bridge -n NS -batch -` per namespace, one
// `ip -batch -` for namespace adds/deletes, one `nft -f -` transaction per
// namespace (its lines in plan order: diff-nft.ts orders them). Pure:
// tests compare the exact text (the knftables lesson).
import { DataplaneError } from "../errors.ts";
import type { Link, NsRef, Route, Rule } from "../kernel-state.ts";
import { type NftRef, PHASES, type Phase, type Plan, type Step } from "../plan.ts";

export type Tool = "netns" | "ip" | "bridge" | "nft" | "sysctl";

export interface Batch {
  phase: Phase;
  tool: Tool;
  /** Where the tool runs ("" = the caller's namespace; always "" for netns). */
  ns: NsRef;
  lines: string[];
  /** For each line, the step it came from (a step may give several lines). */
  from: Step[];
}

interface Lines {
  tool: Tool;
  ns: NsRef;
  lines: string[];
}

function linkAdd(ns: NsRef, l: Link): Lines {
  switch (l.kind) {
    case "bridge":
      return { tool: "ip", ns, lines: [`link add name ${l.name} type bridge`] };
    case "vxlan": {
      const v = l.vxlan;
      if (!v) break;
      // Created in the underlay namespace straight into `ns`: the device lives
      // in ns, its UDP socket in the underlay (as Docker's create-then-move).
      const flags = `${v.learning ? "learning" : "nolearning"} ${v.proxy ? "proxy" : "noproxy"}`;
      return {
        tool: "ip",
        ns: v.underlay,
        lines: [
          `link add name ${l.name} netns ${ns} type vxlan id ${v.vni} dstport ${v.port} local ${v.local} ${flags}`,
        ],
      };
    }
    case "veth": {
      const p = l.peer;
      if (!p) break;
      if (p.ns === "" && ns !== "") break; // the caller's namespace has no name to give
      const into = p.ns === ns ? "" : ` netns ${p.ns}`;
      return {
        tool: "ip",
        ns,
        lines: [`link add name ${l.name} type veth peer name ${p.name}${into}`],
      };
    }
    default:
  }
  throw new DataplaneError(
    "DP_RENDER_INPUT",
    `cannot create ${l.kind} device ${l.name} in ${ns || "host"}`,
  );
}

function routeText(r: Route): string {
  const table = r.table === undefined ? "" : ` table ${r.table}`;
  return `${r.dst} via ${r.via} dev ${r.dev}${table}`;
}

/** Selectors and action of a rule; `rule del` with the same text matches it
 * (an observed stray without fwmark: any rule with that priority and table). */
function ruleText(r: Rule): string {
  const mark = r.fwmark === undefined ? "" : ` fwmark 0x${r.fwmark.toString(16)}`;
  return `priority ${r.priority}${mark} table ${r.table}`;
}

/** "ip swarmnet NAME": a chain, map or set of the step's table. */
function nftName(s: NftRef, name: string): string {
  return `${s.family} ${s.table} ${name}`;
}

export function stepLines(s: Step): Lines {
  const ipIn = (...lines: string[]): Lines => ({ tool: "ip", ns: s.ns, lines });
  const nft = (...lines: string[]): Lines => ({ tool: "nft", ns: s.ns, lines });
  switch (s.kind) {
    case "ns-add":
      return { tool: "netns", ns: "", lines: [`netns add ${s.ns}`] };
    case "ns-del":
      return { tool: "netns", ns: "", lines: [`netns del ${s.ns}`] };
    case "link-add":
      return linkAdd(s.ns, s.link);
    case "link-del":
      return ipIn(`link del dev ${s.name}`);
    case "link-mtu":
      return ipIn(`link set dev ${s.name} mtu ${s.mtu}`);
    case "link-mac":
      return s.down
        ? ipIn(`link set dev ${s.name} down`, `link set dev ${s.name} address ${s.mac}`)
        : ipIn(`link set dev ${s.name} address ${s.mac}`);
    case "link-alias":
      return ipIn(`link set dev ${s.name} alias ${s.alias}`);
    case "link-master":
      return ipIn(
        s.master === null
          ? `link set dev ${s.name} nomaster`
          : `link set dev ${s.name} master ${s.master}`,
      );
    case "link-isolated":
      // Not combinable with `master` in one command on iproute2 6.1.
      return ipIn(`link set dev ${s.name} type bridge_slave isolated ${s.isolated ? "on" : "off"}`);
    case "link-up":
      return ipIn(`link set dev ${s.name} ${s.up ? "up" : "down"}`);
    case "addr-add":
      return ipIn(`addr add ${s.cidr} dev ${s.dev}`);
    case "addr-del":
      return ipIn(`addr del ${s.cidr} dev ${s.dev}`);
    case "route-replace":
      return ipIn(`route replace ${routeText(s.route)}`);
    case "route-del":
      return ipIn(`route del ${routeText(s.route)}`);
    case "rule-add":
      return ipIn(`rule add ${ruleText(s.rule)}`);
    case "rule-del":
      return ipIn(`rule del ${ruleText(s.rule)}`);
    case "neigh-replace":
      return ipIn(
        `neigh replace ${s.entry.ip} lladdr ${s.entry.mac} dev ${s.entry.dev} nud permanent`,
      );
    case "neigh-del":
      return ipIn(`neigh del ${s.entry.ip} dev ${s.entry.dev}`);
    case "fdb-replace":
      return {
        tool: "bridge",
        ns: s.ns,
        lines: [`fdb replace ${s.entry.mac} dev ${s.entry.dev} dst ${s.entry.dst} self permanent`],
      };
    case "fdb-del":
      return {
        tool: "bridge",
        ns: s.ns,
        lines: [`fdb del ${s.entry.mac} dev ${s.entry.dev} dst ${s.entry.dst} self`],
      };
    case "nft-table-add":
      return nft(`add table ${s.family} ${s.table}`);
    case "nft-table-del":
      return nft(`delete table ${s.family} ${s.table}`);
    case "nft-chain-add": {
      const ch = s.chain;
      const base =
        ch.hook === undefined
          ? ""
          : ` { type ${ch.type} hook ${ch.hook} priority ${ch.priority}; policy ${ch.policy}; }`;
      return nft(`add chain ${nftName(s, ch.name)}${base}`);
    }
    case "nft-chain-flush":
      return nft(`flush chain ${nftName(s, s.chain)}`);
    case "nft-chain-rules": {
      const c = nftName(s, s.chain.name);
      const rules = s.chain.rules.map((r) => `add rule ${c} ${r}`);
      return nft(...(s.flush ? [`flush chain ${c}`, ...rules] : rules));
    }
    case "nft-chain-del":
      return nft(`delete chain ${nftName(s, s.chain)}`);
    case "nft-map-add": {
      const m = s.map;
      const kind = m.map === undefined ? "set" : "map";
      const type = m.map === undefined ? m.type : `${m.type} : ${m.map}`;
      const flags = m.flags?.length ? ` flags ${m.flags.join(",")};` : "";
      const counter = m.counter ? " counter;" : "";
      return nft(`add ${kind} ${nftName(s, m.name)} { type ${type};${flags}${counter} }`);
    }
    case "nft-map-del":
      return nft(`delete ${s.map.map === undefined ? "set" : "map"} ${nftName(s, s.map.name)}`);
    case "nft-element-add": {
      const elem = s.value === "" ? s.key : `${s.key} : ${s.value}`;
      return nft(`add element ${nftName(s, s.map)} { ${elem} }`);
    }
    case "nft-element-del":
      return nft(`delete element ${nftName(s, s.map)} { ${s.key} }`);
    case "forwarding":
      return { tool: "sysctl", ns: s.ns, lines: [`net/ipv4/ip_forward=${s.on ? 1 : 0}`] };
    case "rp-filter":
      return { tool: "sysctl", ns: s.ns, lines: [`net/ipv4/conf/all/rp_filter=${s.value}`] };
  }
}

/** The plan as processes: one list of batches per phase (phases with nothing
 * to do are left out); batches of one phase may run in parallel. */
export function compile(plan: Plan): Batch[][] {
  const phases: Batch[][] = [];
  for (const phase of PHASES) {
    const batches = new Map<string, Batch>();
    /** Per batch, the element command its last line is, and the elements
     * gathered for it (joined once at the end: growing the line itself
     * would copy it for every element). */
    type Group = { batch: Batch; command: string; line: number; elements: string[] };
    const open = new Map<Batch, Group>();
    const groups: Group[] = [];
    const batchOf = (tool: Tool, ns: NsRef): Batch => {
      const key = `${tool} ${ns}`;
      let batch = batches.get(key);
      if (!batch) {
        batch = { phase, tool, ns, lines: [], from: [] };
        batches.set(key, batch);
      }
      return batch;
    };
    for (const step of plan.steps) {
      if (step.phase !== phase) continue;
      // Consecutive elements of one map go in one command: nft handles each
      // interval-set command against the whole set, so 10,000 one-element
      // commands cost minutes where one command of 10,000 costs milliseconds.
      if (step.kind === "nft-element-add" || step.kind === "nft-element-del") {
        // Written here, not by stepLines: a policy change can be 10,000 of them.
        const batch = batchOf("nft", step.ns);
        const command = `${step.kind === "nft-element-add" ? "add" : "delete"} element ${nftName(step, step.map)}`;
        const elem =
          step.kind === "nft-element-add" && step.value !== ""
            ? `${step.key} : ${step.value}`
            : step.key;
        const group = open.get(batch);
        if (group?.command === command) {
          group.elements.push(elem);
          continue;
        }
        const started: Group = { batch, command, line: batch.lines.length, elements: [elem] };
        open.set(batch, started);
        groups.push(started);
        batch.lines.push(command);
        batch.from.push(step);
        continue;
      }
      const l = stepLines(step);
      const batch = batchOf(l.tool, l.ns);
      open.delete(batch);
      for (const line of l.lines) {
        batch.lines.push(line);
        batch.from.push(step);
      }
    }
    for (const g of groups) g.batch.lines[g.line] = `${g.command} { ${g.elements.join(", ")} }`;
    if (batches.size > 0) phases.push([...batches.values()]);
  }
  return phases;
}
