// The device part of diff(): which devices to re-create, create, configure
// and remove in one namespace. Kept apart from diff.ts so each file holds one
// job; both share the Gone set, which tracks devices that disappear as a side
// effect of another step (a veth's peer, everything in a deleted namespace),
// so the plan never deletes something twice or configures a dead device.
import type { Link, Namespace, NsRef } from "./kernel-state.ts";
import { GW_BRIDGE, OWNER_ALIAS } from "./names.ts";
import type { PlanBuilder } from "./plan.ts";

export class Gone {
  private readonly keys = new Set<string>();
  add(ns: NsRef, name: string): void {
    this.keys.add(`${ns}\0${name}`);
  }
  /** A device and, for a veth, its peer: deleting one end deletes both. */
  addLink(ns: NsRef, link: Link): void {
    this.add(ns, link.name);
    if (link.peer) this.add(link.peer.ns, link.peer.name);
  }
  has(ns: NsRef, name: string): boolean {
    return this.keys.has(`${ns}\0${name}`);
  }
}

export function where(ns: NsRef, name?: string): string {
  const n = ns === "" ? "host" : ns;
  return name === undefined ? n : `${n}/${name}`;
}

function peerText(p: Link["peer"]): string {
  return p ? where(p.ns, p.name) : "unknown";
}

/** Why an existing device cannot be changed in place into the desired one. */
export function mismatch(have: Link, want: Link): string | undefined {
  if (have.kind !== want.kind) return `kind ${have.kind}, want ${want.kind}`;
  if (want.vxlan) {
    const h = have.vxlan;
    const w = want.vxlan;
    if (!h) return "no VXLAN attributes";
    if (h.vni !== w.vni) return `vni ${h.vni}, want ${w.vni}`;
    if (h.port !== w.port) return `dstport ${h.port}, want ${w.port}`;
    if (h.local !== w.local) return `local ${h.local}, want ${w.local}`;
    if (h.learning !== w.learning) return `learning ${h.learning}, want ${w.learning}`;
    if (h.proxy !== w.proxy) return `proxy ${h.proxy}, want ${w.proxy}`;
  }
  if (want.peer) {
    const h = have.peer;
    if (!h || h.ns !== want.peer.ns || h.name !== want.peer.name) {
      return `peer ${peerText(h)}, want ${peerText(want.peer)}`;
    }
  }
  return undefined;
}

export function live(ns: Namespace, name: string, gone: Gone): Link | undefined {
  if (gone.has(ns.name, name)) return undefined;
  return ns.links.find((l) => l.name === name);
}

/** Pass 1: delete devices that must be re-created, before anything is created. */
export function pruneLinks(b: PlanBuilder, want: Namespace, have: Namespace, gone: Gone): void {
  for (const l of want.links) {
    const h = live(have, l.name, gone);
    if (!h) continue;
    const why = mismatch(h, l);
    if (why === undefined) continue;
    b.add("prune", `ensureLink: ${where(have.name, h.name)} ${why}: re-create`, {
      kind: "link-del",
      ns: have.name,
      name: h.name,
    });
    gone.addLink(have.name, h);
  }
}

/** Pass 2: create what is missing and bring every device to its desired attributes. */
export function ensureLinks(b: PlanBuilder, want: Namespace, have: Namespace, gone: Gone): void {
  const ns = want.name;
  // Grouped so that, inside the namespace's one batch, every device has its
  // MTU/MAC before it joins a bridge, and addresses before it comes up.
  const attrs: (() => void)[] = [];
  const masters: (() => void)[] = [];
  const addrs: (() => void)[] = [];
  const ups: (() => void)[] = [];
  for (const l of want.links) {
    const h = live(have, l.name, gone);
    const at = where(ns, l.name);
    if (!h && l.kind !== "loopback") {
      // A veth pair is created once, from its bridge-port end.
      if (l.kind !== "veth" || l.master !== undefined) {
        const what = l.kind === "veth" ? `veth to ${peerText(l.peer)}` : l.kind;
        b.add("create-links", `ensureLink: ${at} missing: create ${what}`, {
          kind: "link-add",
          ns,
          link: l,
        });
      }
    }
    let bounce = false;
    if (l.mtu !== undefined && h?.mtu !== l.mtu) {
      const mtu = l.mtu;
      attrs.push(() =>
        b.add("configure", `ensureMtu: ${at} ${h?.mtu ?? "new"} → ${mtu}`, {
          kind: "link-mtu",
          ns,
          name: l.name,
          mtu,
        }),
      );
    }
    if (l.mac !== undefined && h?.mac !== l.mac) {
      const mac = l.mac;
      bounce = h?.up === true;
      attrs.push(() =>
        b.add("configure", `ensureMac: ${at} ${h?.mac ?? "new"} → ${mac}`, {
          kind: "link-mac",
          ns,
          name: l.name,
          mac,
          down: bounce,
        }),
      );
    }
    if (l.alias !== undefined && !h) {
      // Only on creation: a docker_gwbridge someone else made stays theirs.
      const alias = l.alias;
      attrs.push(() =>
        b.add("configure", `ensureOwner: ${at} marked ${alias}`, {
          kind: "link-alias",
          ns,
          name: l.name,
          alias,
        }),
      );
    }
    if (l.master !== h?.master) {
      const master = l.master ?? null;
      masters.push(() =>
        b.add(
          "configure",
          `ensureMaster: ${at} ${master ? `joins ${master}` : `leaves ${h?.master}`}`,
          { kind: "link-master", ns, name: l.name, master },
        ),
      );
    }
    if (l.isolated !== undefined && (h?.isolated ?? false) !== l.isolated) {
      const isolated = l.isolated;
      masters.push(() =>
        b.add("configure", `ensureIsolated: ${at} isolated ${isolated ? "on" : "off"}`, {
          kind: "link-isolated",
          ns,
          name: l.name,
          isolated,
        }),
      );
    }
    if (l.addresses) {
      const present = new Set(h?.addresses ?? []);
      const wanted = new Set(l.addresses);
      for (const cidr of l.addresses) {
        if (!present.has(cidr))
          addrs.push(() =>
            b.add("configure", `ensureAddress: ${at} add ${cidr}`, {
              kind: "addr-add",
              ns,
              dev: l.name,
              cidr,
            }),
          );
      }
      for (const cidr of present) {
        if (!wanted.has(cidr))
          b.add("remove-entries", `ensureAddress: ${at} remove ${cidr}`, {
            kind: "addr-del",
            ns,
            dev: l.name,
            cidr,
          });
      }
    }
    if (l.up !== (h?.up ?? false) || (bounce && l.up)) {
      const up = l.up;
      ups.push(() =>
        b.add("configure", `ensureUp: ${at} ${up ? "up" : "down"}`, {
          kind: "link-up",
          ns,
          name: l.name,
          up,
        }),
      );
    }
  }
  for (const f of [...attrs, ...masters, ...addrs, ...ups]) f();
}

/** Devices swarmnet owns in this namespace that are no longer wanted. In the
 * host namespace a docker_gwbridge without swarmnet's mark is left alone. */
export function removeStrayLinks(
  b: PlanBuilder,
  want: Namespace,
  have: Namespace,
  gone: Gone,
): void {
  const wanted = new Set(want.links.map((l) => l.name));
  for (const h of have.links) {
    if (wanted.has(h.name) || h.kind === "loopback" || gone.has(have.name, h.name)) continue;
    if (have.role === "host" && h.name === GW_BRIDGE && h.alias !== OWNER_ALIAS) continue;
    b.add("remove-links", `ensureNoLink: ${where(have.name, h.name)} not wanted`, {
      kind: "link-del",
      ns: have.name,
      name: h.name,
    });
    gone.addLink(have.name, h);
  }
}
