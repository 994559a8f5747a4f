// diff(observed, desired) → Plan: the steps that make the kernel hold the
// desired state, touching only what differs. Pure. diff(x, x) is empty, so
// applying a plan and diffing again gives nothing to do (restart = resync).
//
// Order: prune devices that cannot be changed in place, create namespaces,
// create devices, configure them (attributes, addresses, up, routes, rules,
// neighbours, FDB), nftables (diff-nft.ts), ip_forward and rp_filter per
// namespace, then deletions in reverse (entries, devices, namespaces) — new
// paths exist before old ones go. A namespace that goes takes its table along: no steps for it.
import { ensureLinks, Gone, live, pruneLinks, removeStrayLinks, where } from "./diff-links.ts";
import { diffNftTable } from "./diff-nft.ts";
import { DataplaneError } from "./errors.ts";
import {
  emptyNamespace,
  type KernelState,
  MAIN_TABLE,
  type Namespace,
  type Route,
  type Rule,
} from "./kernel-state.ts";
import { type Plan, PlanBuilder } from "./plan.ts";

export function diff(observed: KernelState, desired: KernelState): Plan {
  if (observed.host.name !== desired.host.name) {
    throw new DataplaneError(
      "DP_RENDER_INPUT",
      `observed host namespace ${where(observed.host.name)} but desired ${where(desired.host.name)}`,
    );
  }
  const b = new PlanBuilder();
  const gone = new Gone();
  const have = new Map(observed.namespaces.map((n) => [n.name, n] as const));
  const want = new Map(desired.namespaces.map((n) => [n.name, n] as const));

  for (const d of desired.namespaces) {
    if (!have.has(d.name)) {
      b.add("create-namespaces", `ensureNamespace: ${d.name} missing (${d.role})`, {
        kind: "ns-add",
        ns: d.name,
      });
    }
  }
  const pairs: [Namespace, Namespace][] = [desired.host, ...desired.namespaces].map((d) => [
    d,
    d.role === "host" ? observed.host : (have.get(d.name) ?? emptyNamespace(d.name, d.role)),
  ]);
  // First, so a kept device whose veth peer sits in a doomed namespace is
  // re-created (its deletion takes the doomed end along).
  for (const [d, o] of pairs) pruneLinks(b, d, o, gone);

  // The kernel destroys a deleted namespace's devices asynchronously: a veth
  // peer elsewhere, or a VXLAN device holding its VNI, could outlive `netns
  // del` and confuse the next observe or a new device. Deleting them first is
  // synchronous. The allocator hands a freed VNI to the next network, and the
  // kernel allows one VXLAN device per VNI and port in the underlay, so such a
  // device goes before anything is created.
  const vniKey = (v: { vni: number; port: number }) => `${v.vni}/${v.port}`;
  const wantedVnis = new Set(
    desired.namespaces.flatMap((n) => n.links.flatMap((l) => (l.vxlan ? [vniKey(l.vxlan)] : []))),
  );
  for (const o of observed.namespaces) {
    if (want.has(o.name)) continue;
    for (const l of o.links) {
      if ((l.kind !== "veth" && l.kind !== "vxlan") || gone.has(o.name, l.name)) continue;
      const reused = l.vxlan !== undefined && wantedVnis.has(vniKey(l.vxlan));
      b.add(
        reused ? "prune" : "remove-links",
        `ensureNoLink: ${where(o.name, l.name)} goes with its namespace${reused ? ", and its VNI is reused" : ""}`,
        { kind: "link-del", ns: o.name, name: l.name },
      );
      gone.addLink(o.name, l);
    }
    b.add("remove-namespaces", `ensureNoNamespace: ${o.name} not wanted (${o.role})`, {
      kind: "ns-del",
      ns: o.name,
    });
    for (const l of o.links) gone.addLink(o.name, l);
  }

  for (const [d, o] of pairs) ensureLinks(b, d, o, gone);
  for (const [d, o] of pairs) removeStrayLinks(b, d, o, gone);
  for (const [d, o] of pairs) ensureEntries(b, d, o, gone);
  for (const [d, o] of pairs) {
    diffNftTable(b, d.name, o.nft, d.nft);
    if (d.forwarding !== undefined && o.forwarding !== d.forwarding) {
      b.add(
        "firewall",
        `ensureForwarding: net.ipv4.ip_forward=${d.forwarding ? 1 : 0} in ${where(d.name)}`,
        {
          kind: "forwarding",
          ns: d.name,
          on: d.forwarding,
        },
      );
    }
    if (d.rpFilter !== undefined && o.rpFilter !== d.rpFilter) {
      b.add(
        "firewall",
        `ensureRpFilter: net.ipv4.conf.all.rp_filter=${d.rpFilter} in ${where(d.name)}`,
        { kind: "rp-filter", ns: d.name, value: d.rpFilter },
      );
    }
  }
  return b.build();
}

function routeText(r: Route): string {
  return `${r.dst} via ${r.via} dev ${r.dev}${r.table === undefined ? "" : ` table ${r.table}`}`;
}

function ruleText(r: Rule): string {
  return `priority ${r.priority}${r.fwmark === undefined ? "" : ` fwmark ${r.fwmark}`} lookup ${r.table}`;
}

/** Routes (per table), rules, neighbours and FDB entries, keyed so a changed
 * value is replaced in place. Entries on a device that is going away (or was
 * re-created) count as absent: the kernel dropped them with the device. */
function ensureEntries(b: PlanBuilder, d: Namespace, o: Namespace, gone: Gone): void {
  const ns = d.name;
  const alive = (dev: string) => live(o, dev, gone) !== undefined;

  const routeKey = (r: Route) => `${r.table ?? MAIN_TABLE} ${r.dst}`;
  const routes = new Map(
    o.routes.filter((r) => alive(r.dev)).map((r) => [routeKey(r), r] as const),
  );
  const wantRoutes = new Set(d.routes.map(routeKey));
  for (const r of d.routes) {
    const h = routes.get(routeKey(r));
    if (h && h.via === r.via && h.dev === r.dev) continue;
    b.add("configure", `ensureRoute: ${where(ns)} ${routeText(r)}`, {
      kind: "route-replace",
      ns,
      route: r,
    });
  }
  for (const [key, h] of routes) {
    if (!wantRoutes.has(key)) {
      b.add("remove-entries", `ensureNoRoute: ${where(ns)} ${routeText(h)} not wanted`, {
        kind: "route-del",
        ns,
        route: h,
      });
    }
  }

  // A rule is all key: one that differs is deleted and the wanted one added.
  const ruleKey = (r: Rule) => `${r.priority} ${r.fwmark ?? "-"} ${r.table}`;
  const rules = new Set(o.rules.map(ruleKey));
  const wantRules = new Set(d.rules.map(ruleKey));
  for (const r of d.rules) {
    if (rules.has(ruleKey(r))) continue;
    b.add("configure", `ensureRule: ${where(ns)} ${ruleText(r)} missing`, {
      kind: "rule-add",
      ns,
      rule: r,
    });
  }
  for (const h of o.rules) {
    if (!wantRules.has(ruleKey(h))) {
      b.add("remove-entries", `ensureNoRule: ${where(ns)} ${ruleText(h)} not wanted`, {
        kind: "rule-del",
        ns,
        rule: h,
      });
    }
  }

  const neigh = new Map(
    o.neigh.filter((n) => alive(n.dev)).map((n) => [`${n.dev} ${n.ip}`, n] as const),
  );
  const wantNeigh = new Set(d.neigh.map((n) => `${n.dev} ${n.ip}`));
  for (const n of d.neigh) {
    if (neigh.get(`${n.dev} ${n.ip}`)?.mac === n.mac) continue;
    b.add("configure", `ensureNeigh: ${where(ns, n.dev)} ${n.ip} → ${n.mac}`, {
      kind: "neigh-replace",
      ns,
      entry: n,
    });
  }
  for (const [key, h] of neigh) {
    if (!wantNeigh.has(key)) {
      b.add("remove-entries", `ensureNoNeigh: ${where(ns, h.dev)} ${h.ip} not wanted`, {
        kind: "neigh-del",
        ns,
        entry: h,
      });
    }
  }

  const fdb = new Map(
    o.fdb.filter((f) => alive(f.dev)).map((f) => [`${f.dev} ${f.mac}`, f] as const),
  );
  const wantFdb = new Set(d.fdb.map((f) => `${f.dev} ${f.mac}`));
  for (const f of d.fdb) {
    if (fdb.get(`${f.dev} ${f.mac}`)?.dst === f.dst) continue;
    b.add("configure", `ensureFdb: ${where(ns, f.dev)} ${f.mac} → ${f.dst}`, {
      kind: "fdb-replace",
      ns,
      entry: f,
    });
  }
  for (const [key, h] of fdb) {
    if (!wantFdb.has(key)) {
      b.add("remove-entries", `ensureNoFdb: ${where(ns, h.dev)} ${h.mac} not wanted`, {
        kind: "fdb-del",
        ns,
        entry: h,
      });
    }
  }
}
