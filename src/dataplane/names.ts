// Names swarmnet gives kernel objects, and the limits the kernel puts on them.
// All pure. Interface names are bounded by IFNAMSIZ (16 bytes with the NUL,
// so 15 characters); namespace names are file names under /run/netns and only
// need to be unique on the machine — which is why every namespace carries the
// node's prefix: in the lab several "hosts" (namespaces themselves) share one
// /run/netns.
import { createHash } from "node:crypto";
import { parseIp } from "../core/ipam/index.ts";
import { DataplaneError } from "./errors.ts";

/** Longest interface name the kernel takes (IFNAMSIZ - 1). */
export const IFNAME_MAX = 15;

/** Where one node's objects live: its host namespace and its namespace prefix. */
export interface Scope {
  /** The node's own network namespace: a name under /run/netns, or "" for the
   * namespace the calling process runs in (a real host's root namespace). */
  hostNs: string;
  /** Prefix of every namespace swarmnet creates for this node, e.g. "sn-" on a
   * real host or "sn-node1-" in the lab. */
  prefix: string;
}

export const DEFAULT_PREFIX = "sn-";
export const DEFAULT_SCOPE: Scope = { hostNs: "", prefix: DEFAULT_PREFIX };

/** Device names inside namespaces swarmnet owns. */
export const BRIDGE = "br0";
export const VXLAN = "vxlan0";
export const GW_LEG = "gw0";
export const LOOPBACK = "lo";
/** Docker's name, in the host namespace (exactly 15 characters). */
export const GW_BRIDGE = "docker_gwbridge";
/** ifalias swarmnet writes on devices it creates in the host namespace, so
 * cleanup removes a docker_gwbridge only when swarmnet made it. */
export const OWNER_ALIAS = "swarmnet";
/** swarmnet's nftables table (`table ip swarmnet`) in the host namespace. */
export const NFT_TABLE = "swarmnet";

// /run/netns entries and `ip -n` arguments: keep to characters no shell, path
// or iproute2 keyword can misread.
const NS_CHARS = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const SHORT_ID = /^[A-Za-z0-9]{1,12}$/;

export function checkPrefix(prefix: string): string {
  if (!NS_CHARS.test(prefix) || prefix.length > 200) {
    throw new DataplaneError(
      "DP_INVALID_NAME",
      `invalid namespace prefix: ${JSON.stringify(prefix)}`,
    );
  }
  return prefix;
}

/** A namespace name given from outside (a lab host): "" or a safe file name. */
export function checkNsName(name: string): string {
  if (name !== "" && (!NS_CHARS.test(name) || name.length > 255)) {
    throw new DataplaneError("DP_INVALID_NAME", `invalid namespace name: ${JSON.stringify(name)}`);
  }
  return name;
}

/** Rejects what the kernel's dev_valid_name() rejects, plus empty names. */
export function checkIfName(name: string): string {
  if (
    name.length === 0 ||
    name.length > IFNAME_MAX ||
    name === "." ||
    name === ".." ||
    /[/:\s]/.test(name)
  ) {
    throw new DataplaneError(
      "DP_INVALID_NAME",
      `invalid interface name ${JSON.stringify(name)} (at most ${IFNAME_MAX} characters, no "/", ":" or spaces)`,
    );
  }
  return name;
}

function shortId(id: string): string {
  const short = id.slice(0, 12);
  if (!SHORT_ID.test(short)) {
    throw new DataplaneError("DP_INVALID_NAME", `id ${JSON.stringify(id)} cannot name a namespace`);
  }
  return short;
}

export function networkNsName(prefix: string, networkId: string): string {
  return `${checkPrefix(prefix)}net-${shortId(networkId)}`;
}

export function sandboxNsName(prefix: string, ownerId: string): string {
  return `${checkPrefix(prefix)}sb-${shortId(ownerId)}`;
}

export type OwnedNsRole = "network" | "sandbox";

/** The role of a namespace this prefix owns, or undefined if it is not ours.
 * Strict on purpose: "sn-" must not claim "sn-node1-net-…" of a lab host. */
export function parseNsName(prefix: string, name: string): OwnedNsRole | undefined {
  if (!name.startsWith(prefix)) return undefined;
  const rest = name.slice(prefix.length);
  const m = /^(net|sb)-([A-Za-z0-9]{1,12})$/.exec(rest);
  if (!m) return undefined;
  return m[1] === "net" ? "network" : "sandbox";
}

function hex(input: string, chars: number): string {
  return createHash("sha256").update(input).digest("hex").slice(0, chars);
}

/** Bridge-side end of a task's veth on an overlay network (in the network's
 * namespace): stable for a (task, network) pair, so a task moved to another
 * network gets a different name and the mismatch is seen. */
export function overlayPeerName(ownerId: string, networkId: string): string {
  return `v${hex(`${ownerId}\0${networkId}`, 10)}`;
}

/** Host-side end of a task's gateway-bridge leg. */
export function gatewayPeerName(ownerId: string): string {
  return `g${hex(ownerId, 10)}`;
}

/** Matches names gatewayPeerName() makes: observe claims such host devices
 * even before they are enslaved (a crash between create and configure). */
export const GATEWAY_PEER = /^g[0-9a-f]{10}$/;

export function sandboxIfName(index: number): string {
  return checkIfName(`eth${index}`);
}

/** Docker's endpoint MAC: 02:42 followed by the IPv4 address. */
export function macFromIp(ip: string): string {
  const n = parseIp(ip);
  const bytes = [0x02, 0x42, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}
