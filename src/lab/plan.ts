// The lab's plan, as data: names, addresses and paths of every namespace,
// link, file and socket a lab of N nodes has. Pure; lab.ts makes it real.
//
// Address plan (198.18.0.0/15 is the benchmarking range, RFC 2544, so it never
// collides with a real network): node i is 198.18.0.i/15 on its `eth0`; the
// underlay bridge has no address. Nothing else is routed: the only route in a
// node is the connected 198.18.0.0/15, so nothing in the lab reaches the
// machine's real networks.
import { invalid } from "../core/errors.ts";

export const MIN_NODES = 1;
export const MAX_NODES = 9;
export const DEFAULT_NODES = 3;

export const UNDERLAY_SUBNET = "198.18.0.0/15";
export const UNDERLAY_PREFIX_LENGTH = 15;
/** Port managers take joins on (Docker Swarm's). */
export const MANAGER_PORT = 2377;
/** The bridge in the underlay namespace every node's veth is enslaved to. */
export const UNDERLAY_BRIDGE = "br0";
/** The node's end of its underlay veth, inside the node's namespace. */
export const NODE_IF = "eth0";

/** Where a lab lives. The CLI always uses DEFAULT_CONFIG (nodes named exactly
 * node1..nodeN); tests use a unique prefix and directories so they never meet a
 * real lab or each other. */
export interface LabConfig {
  /** Put before every namespace name the lab makes: "" for the real lab. */
  namePrefix: string;
  /** Holds lab.json and the UTS namespace files (uts/NODE). */
  stateDir: string;
  /** Holds each node's data directory: store, socket, daemon.pid, daemon.log. */
  labDir: string;
}

export const DEFAULT_CONFIG: LabConfig = {
  namePrefix: "",
  stateDir: "/run/swarmnet-lab",
  labDir: "/var/lib/swarmnet-lab",
};

export const STATE_FILE = "lab.json";

export interface NodePlan {
  /** 1-based. node1 is the manager. */
  index: number;
  /** Hostname, and the name `lab exec` and `lab status` use. */
  name: string;
  /** Network namespace, /run/netns/<netns>. */
  netns: string;
  address: string;
  prefixLength: number;
  /** The underlay end of the node's veth, in the underlay namespace. */
  underlayIf: string;
  /** Bind-mounted persistent UTS namespace whose hostname is `name`. */
  utsFile: string;
  dataDir: string;
  /** SWARMNET_HOST of the node's daemon. */
  host: string;
  /** DOCKER_HOST of the node's Docker-compatible API. */
  dockerHost: string;
  log: string;
  pidFile: string;
  /** Prefix of the namespaces the node's agent makes (SWARMNET_NETNS_PREFIX). */
  nsPrefix: string;
}

export interface LabPlan {
  stateFile: string;
  utsDir: string;
  underlay: { netns: string; bridge: string; subnet: string };
  nodes: NodePlan[];
}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Namespace names go to `ip`, /run/netns and kill decisions: keep them boring. */
export function checkName(name: string, what = "name"): string {
  if (!SAFE_NAME.test(name) || name.length > 64) {
    throw invalid(`invalid lab ${what}: ${JSON.stringify(name)}`);
  }
  return name;
}

/** `--nodes`: 1..9 (one address byte, one-digit names). */
export function checkNodeCount(n: number): number {
  if (!Number.isInteger(n) || n < MIN_NODES || n > MAX_NODES) {
    throw invalid(`invalid node count ${n}: a lab has ${MIN_NODES} to ${MAX_NODES} nodes`);
  }
  return n;
}

export function nodeAddress(index: number): string {
  return `198.18.0.${index}`;
}

export function planNode(config: LabConfig, index: number): NodePlan {
  const name = `node${index}`;
  const netns = checkName(`${config.namePrefix}${name}`, "namespace name");
  const dataDir = `${config.labDir}/${name}`;
  return {
    index,
    name,
    netns,
    address: nodeAddress(index),
    prefixLength: UNDERLAY_PREFIX_LENGTH,
    underlayIf: name,
    utsFile: `${config.stateDir}/uts/${netns}`,
    dataDir,
    host: `unix://${dataDir}/swarmnet.sock`,
    dockerHost: `unix://${dataDir}/docker.sock`,
    log: `${dataDir}/daemon.log`,
    pidFile: `${dataDir}/daemon.pid`,
    nsPrefix: `sn-${netns}-`,
  };
}

export function planLab(config: LabConfig, count: number): LabPlan {
  checkNodeCount(count);
  for (const dir of [config.stateDir, config.labDir]) {
    if (!dir.startsWith("/") || dir.length < 2)
      throw invalid(`lab directory must be absolute: ${dir}`);
  }
  return {
    stateFile: `${config.stateDir}/${STATE_FILE}`,
    utsDir: `${config.stateDir}/uts`,
    underlay: {
      netns: checkName(`${config.namePrefix}sn-lab-underlay`, "namespace name"),
      bridge: UNDERLAY_BRIDGE,
      subnet: UNDERLAY_SUBNET,
    },
    nodes: Array.from({ length: count }, (_, i) => planNode(config, i + 1)),
  };
}

/** Every namespace name the plan makes itself (the agents' come on top). */
export function plannedNamespaces(plan: LabPlan): string[] {
  return [plan.underlay.netns, ...plan.nodes.map((n) => n.netns)];
}
