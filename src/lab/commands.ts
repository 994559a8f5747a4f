// The lab's command lines as data: `ip -batch` texts, nsenter argv, the
// swarmnet CLI invocations of `startClusterDaemons`, and which namespaces a
// teardown removes. Pure, so tests read them as text.
import type { LabPlan, NodePlan } from "./plan.ts";
import { MANAGER_PORT, NODE_IF } from "./plan.ts";

/** One `ip -batch` (netns-less) run that creates every namespace of the plan. */
export function namespacesBatch(plan: LabPlan): string {
  return [plan.underlay.netns, ...plan.nodes.map((n) => n.netns)]
    .map((ns) => `netns add ${ns}\n`)
    .join("");
}

/** Run as `ip -n <underlay> -batch`: the bridge, and a veth per node whose
 * other end lands in the node's namespace as eth0. */
export function underlayBatch(plan: LabPlan): string {
  const br = plan.underlay.bridge;
  const lines = [`link add name ${br} type bridge`, `link set ${br} up`];
  for (const n of plan.nodes) {
    lines.push(
      `link add name ${n.underlayIf} type veth peer name ${NODE_IF} netns ${n.netns}`,
      `link set ${n.underlayIf} master ${br}`,
      `link set ${n.underlayIf} up`,
    );
  }
  return `${lines.join("\n")}\n`;
}

/** Run as `ip -n <node> -batch`: loopback, the node's address, no other route. */
export function nodeBatch(node: NodePlan): string {
  return [
    "link set lo up",
    `addr add ${node.address}/${node.prefixLength} dev ${NODE_IF}`,
    `link set ${NODE_IF} up`,
    "",
  ].join("\n");
}

/** Sets the hostname of the node's new UTS namespace and turns on forwarding in
 * its network namespace (nodes route for their tasks). Run by
 * `nsenter --net=… unshare --uts=FILE`; the name is "$1", never parsed by sh. */
export const NODE_SETUP_SCRIPT =
  'echo "$1" > /proc/sys/kernel/hostname && echo 1 > /proc/sys/net/ipv4/ip_forward';

export function netnsPath(netns: string): string {
  return `/run/netns/${netns}`;
}

/** Makes the node's persistent UTS namespace (bind-mounted on utsFile, which
 * must exist) and configures it and the node's network namespace. */
export function nodeSetupArgv(node: NodePlan): string[] {
  return [
    "nsenter",
    `--net=${netnsPath(node.netns)}`,
    "unshare",
    `--uts=${node.utsFile}`,
    "sh",
    "-c",
    NODE_SETUP_SCRIPT,
    "sh",
    node.name,
  ];
}

/** A command "on" the node: its network and UTS namespaces, nothing else (no
 * mount namespace, unlike `ip netns exec`, so /sys and cgroups stay as they are). */
export function onNodeArgv(node: NodePlan, argv: readonly string[]): string[] {
  return ["nsenter", `--net=${netnsPath(node.netns)}`, `--uts=${node.utsFile}`, "--", ...argv];
}

/** Lab nodes always say which resolvers they forward to: left to their default,
 * they would read the machine's /etc/resolv.conf (the lab shares the machine's
 * files) and forward to addresses the lab cannot reach. [] is "none". */
export function dnsUpstreamArgs(upstreams: readonly string[]): string[] {
  if (upstreams.length === 0) return ["--dns-upstream", "none"];
  return upstreams.flatMap((u) => ["--dns-upstream", u]);
}

/** The swarmnet CLI words `lab up` runs, in order, as a user would on real hosts. */
export function initArgs(manager: NodePlan, dnsUpstreams: readonly string[] = []): string[] {
  return [
    "init",
    "--advertise-addr",
    manager.address,
    ...dnsUpstreamArgs(dnsUpstreams),
    "--data-dir",
    manager.dataDir,
    "--host",
    manager.host,
  ];
}

export function joinTokenArgs(manager: NodePlan): string[] {
  return ["join-token", "-q", "worker", "--host", manager.host];
}

export function joinArgs(
  node: NodePlan,
  token: string,
  manager: NodePlan,
  dnsUpstreams: readonly string[] = [],
): string[] {
  return [
    "join",
    "--token",
    token,
    `${manager.address}:${MANAGER_PORT}`,
    ...dnsUpstreamArgs(dnsUpstreams),
    "--data-dir",
    node.dataDir,
    "--host",
    node.host,
  ];
}

/** Names from `ip netns list` ("name (id: 3)" or "name"). */
export function parseNetnsList(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[0] ?? "")
    .filter((n) => n !== "");
}

export interface LabNames {
  underlayNs: string;
  nodes: { netns: string; nsPrefix: string }[];
}

/** The namespaces a teardown deletes, in order: what the nodes' agents made
 * (names starting with a node's prefix, e.g. "sn-node1-"), then the nodes,
 * then the underlay. Only names in `existing`; nothing else ever. */
export function namespacesToDelete(names: LabNames, existing: readonly string[]): string[] {
  const agents = existing.filter((ns) => names.nodes.some((n) => ns.startsWith(n.nsPrefix)));
  const own = [...names.nodes.map((n) => n.netns), names.underlayNs].filter((ns) =>
    existing.includes(ns),
  );
  return [...agents.sort(), ...own];
}

/** `ip -force -batch` deleting links first (both veth ends go with one), so
 * nothing lingers if some process still holds a namespace open. */
export function unlinkBatch(names: { bridge: string; underlayIfs: string[] }): string {
  return [...names.underlayIfs, names.bridge].map((l) => `link del dev ${l}\n`).join("");
}

export function deleteNamespacesBatch(namespaces: readonly string[]): string {
  return namespaces.map((ns) => `netns del ${ns}\n`).join("");
}
