// diff of swarmnet's nftables table in one namespace. Chains are compared per
// chain (a chain whose rules differ is flushed and rewritten, other chains are
// left alone, like kube-proxy's partial sync) and maps per element: with
// thousands of services, one change is one element, never a new map or table.
//
// All steps of one namespace run as one `nft -f -` transaction, which the
// kernel applies whole or not at all. Their order only has to keep every
// command valid where it stands (nothing may reference what does not exist
// yet, nothing referenced may be deleted):
//
//   add table
//   re-created objects (a base chain whose hook changed, a map whose types
//     changed): flush chains that refer to them, delete elements that jump to
//     them, then delete them
//   add chains, empty (rules may jump to chains further down the list)
//   add maps, empty (rules use them with @name)
//   rules of new chains and of chains whose rules differ (flush + add)
//   add elements (a changed value: delete + add) — may goto the new chains
//   delete elements
//   flush chains to delete (their rules may use maps and chains about to go)
//   delete maps, then chains — by now nothing refers to them
import { where } from "./diff-links.ts";
import type { NftChain, NftMap, NftTable, NsRef } from "./kernel-state.ts";
import type { NftMapType, NftRef, PlanBuilder } from "./plan.ts";

/** A base chain's hook line as nft prints it; "" for a regular chain. */
export function chainHeader(c: NftChain): string {
  if (c.hook === undefined) return "";
  return `type ${c.type} hook ${c.hook} priority ${c.priority}; policy ${c.policy};`;
}

/** A map's or set's type line as nft prints it, without "type", and its
 * flags: everything that cannot change without re-creating it. */
export function mapHeader(m: NftMapType): string {
  const type = m.map === undefined ? m.type : `${m.type} : ${m.map}`;
  const flags = m.flags?.length ? `${type}; flags ${m.flags.join(",")}` : type;
  return m.counter ? `${flags}; counter` : flags;
}

/**
 * Deleting an element from an interval map (nft's pipapo sets) costs time in
 * proportion to the whole map: 10,000 deletions from 10,000 elements take
 * ~3 s of kernel time, where deleting the map and adding its 10,000 new
 * elements takes ~0.15 s (nftables 1.0.6, kernel 6.18). Past this many
 * deletions (changed values count: they are deleted and added) the map is
 * re-created in the same transaction instead; its element counters start
 * again from zero.
 */
export const REMAKE_AFTER_DELETIONS = 256;

function deletions(have: NftMap, want: NftMap): number {
  let n = 0;
  for (const [key, value] of Object.entries(have.elements)) {
    if (!Object.hasOwn(want.elements, key) || want.elements[key] !== value) n++;
  }
  return n;
}

function sameRules(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((r, i) => r === b[i]);
}

// `@vips` names a set or map; `jump X` / `goto X` a chain (in rules and in
// verdict-map values alike).
const REF = /(?:^|[\s{,:])(?:@([\w./-]+)|(?:jump|goto) ([\w./-]+))/g;

function refersTo(text: string, maps: Set<string>, chains: Set<string>): boolean {
  for (const m of text.matchAll(REF)) {
    if (m[1] !== undefined ? maps.has(m[1]) : chains.has(m[2]!)) return true;
  }
  return false;
}

/** Steps that turn table `have` into `want` in namespace `ns` (undefined: no table). */
export function diffNftTable(
  b: PlanBuilder,
  ns: NsRef,
  have: NftTable | undefined,
  want: NftTable | undefined,
): void {
  if (have && (!want || have.name !== want.name)) {
    b.add("remove-links", `ensureNoTable: ${where(ns)} ${have.family} ${have.name} not wanted`, {
      kind: "nft-table-del",
      ns,
      family: have.family,
      table: have.name,
    });
  }
  if (!want) return;
  const t: NftRef = { ns, family: want.family, table: want.name };
  const at = (name: string) => `${where(ns)} ${want.name}/${name}`;
  const old = have && have.name === want.name ? have : undefined;
  if (!old) {
    b.add("firewall", `ensureTable: ${where(ns)} ${want.family} ${want.name} missing`, {
      kind: "nft-table-add",
      ...t,
    });
  }
  const oldChains = new Map((old?.chains ?? []).map((c) => [c.name, c] as const));
  const oldMaps = new Map((old?.maps ?? []).map((m) => [m.name, m] as const));

  // Neither a base chain's hook nor a map's types can be changed in place.
  const remadeChains = new Set<string>();
  for (const c of want.chains) {
    const h = oldChains.get(c.name);
    if (h && chainHeader(h) !== chainHeader(c)) remadeChains.add(c.name);
  }
  const remadeMaps = new Set<string>();
  for (const m of want.maps) {
    const h = oldMaps.get(m.name);
    if (h && (mapHeader(h) !== mapHeader(m) || deletions(h, m) >= REMAKE_AFTER_DELETIONS))
      remadeMaps.add(m.name);
  }
  const flushed = new Set<string>();
  /** Per kept map, the keys deleted early (they jumped to a re-created chain). */
  const dropped = new Map<string, Set<string>>();
  if (old && remadeChains.size + remadeMaps.size > 0) {
    for (const h of old.chains) {
      const remade = remadeChains.has(h.name);
      if (!remade && !h.rules.some((r) => refersTo(r, remadeMaps, remadeChains))) continue;
      if (h.rules.length > 0) {
        b.add(
          "firewall",
          `ensureChain: ${at(h.name)} ${remade ? "is re-created" : "refers to a re-created object"}: flush`,
          { kind: "nft-chain-flush", ...t, chain: h.name },
        );
      }
      flushed.add(h.name);
    }
    for (const h of old.maps) {
      if (remadeMaps.has(h.name)) continue;
      for (const [key, value] of Object.entries(h.elements)) {
        if (!refersTo(value, remadeMaps, remadeChains)) continue;
        b.add(
          "firewall",
          `ensureElement: ${at(h.name)} ${key} → ${value}: its chain is re-created`,
          { kind: "nft-element-del", ...t, map: h.name, key },
        );
        const keys = dropped.get(h.name) ?? new Set<string>();
        keys.add(key);
        dropped.set(h.name, keys);
      }
    }
    for (const name of remadeMaps) {
      const { elements: _e, ...type } = oldMaps.get(name)!;
      b.add("firewall", `ensureMap: ${at(name)} is "${mapHeader(type)}": re-create`, {
        kind: "nft-map-del",
        ...t,
        map: type,
      });
    }
    for (const name of remadeChains) {
      b.add(
        "firewall",
        `ensureChain: ${at(name)} is "${chainHeader(oldChains.get(name)!)}": re-create`,
        { kind: "nft-chain-del", ...t, chain: name },
      );
    }
  }

  for (const c of want.chains) {
    if (oldChains.has(c.name) && !remadeChains.has(c.name)) continue;
    b.add("firewall", `ensureChain: ${at(c.name)} missing`, {
      kind: "nft-chain-add",
      ...t,
      chain: c,
    });
  }
  for (const m of want.maps) {
    if (oldMaps.has(m.name) && !remadeMaps.has(m.name)) continue;
    const { elements: _e, ...type } = m;
    b.add("firewall", `ensureMap: ${at(m.name)} missing`, { kind: "nft-map-add", ...t, map: type });
  }
  for (const c of want.chains) {
    const h = remadeChains.has(c.name) ? undefined : oldChains.get(c.name);
    if (!h || flushed.has(c.name)) {
      if (c.rules.length === 0) continue;
      b.add("firewall", `ensureChain: ${at(c.name)} rules missing`, {
        kind: "nft-chain-rules",
        ...t,
        chain: c,
        flush: false,
      });
    } else if (!sameRules(h.rules, c.rules)) {
      b.add("firewall", `ensureChain: ${at(c.name)} rules differ: rewrite`, {
        kind: "nft-chain-rules",
        ...t,
        chain: c,
        flush: true,
      });
    }
  }

  const kept = (m: NftMap): NftMap | undefined =>
    remadeMaps.has(m.name) ? undefined : oldMaps.get(m.name);
  for (const m of want.maps) {
    const h = kept(m);
    const gone = dropped.get(m.name);
    for (const [key, value] of Object.entries(m.elements)) {
      const cur =
        h && !gone?.has(key) && Object.hasOwn(h.elements, key) ? h.elements[key] : undefined;
      if (cur === value) continue;
      if (cur !== undefined) {
        // nft has no element update: delete and add, in the same transaction.
        b.add("firewall", `ensureElement: ${at(m.name)} ${key} is ${cur}, want ${value}`, {
          kind: "nft-element-del",
          ...t,
          map: m.name,
          key,
        });
      }
      b.add(
        "firewall",
        `ensureElement: ${at(m.name)} ${key}${value === "" ? "" : ` → ${value}`}${cur === undefined ? " missing" : ""}`,
        { kind: "nft-element-add", ...t, map: m.name, key, value },
      );
    }
  }
  for (const m of want.maps) {
    const h = kept(m);
    if (!h) continue;
    const gone = dropped.get(m.name);
    for (const key of Object.keys(h.elements)) {
      if (Object.hasOwn(m.elements, key) || gone?.has(key)) continue;
      b.add("firewall", `ensureNoElement: ${at(m.name)} ${key} not wanted`, {
        kind: "nft-element-del",
        ...t,
        map: m.name,
        key,
      });
    }
  }

  // Doomed chains are flushed before any map or chain is deleted: their rules
  // may use a doomed map or jump to another doomed chain.
  const wantChains = new Set(want.chains.map((c) => c.name));
  const doomed = (old?.chains ?? []).filter((h) => !wantChains.has(h.name));
  for (const h of doomed) {
    if (h.rules.length === 0 || flushed.has(h.name)) continue;
    b.add("firewall", `ensureNoChain: ${at(h.name)} not wanted: flush`, {
      kind: "nft-chain-flush",
      ...t,
      chain: h.name,
    });
  }
  const wantMaps = new Set(want.maps.map((m) => m.name));
  for (const h of old?.maps ?? []) {
    if (wantMaps.has(h.name)) continue;
    const { elements: _e, ...type } = h;
    b.add("firewall", `ensureNoMap: ${at(h.name)} not wanted`, {
      kind: "nft-map-del",
      ...t,
      map: type,
    });
  }
  for (const h of doomed) {
    b.add("firewall", `ensureNoChain: ${at(h.name)} not wanted`, {
      kind: "nft-chain-del",
      ...t,
      chain: h.name,
    });
  }
}
