// The lab's state file (lab.json): the plan it was made from plus what
// happened since (phase, daemon pids). Written before anything is made, so an
// interrupted `lab up` is still found and removed by `lab down`. Pure: shape,
// parsing with checks, and what status/env print.
import { checkName, type LabPlan, type NodePlan } from "./plan.ts";

export const STATE_VERSION = 1;

export type LabPhase = "creating" | "up";

export interface LabNodeState extends NodePlan {
  role: "manager" | "worker";
  /** The node daemon's pid when `lab up` finished (daemon.pid is read again later). */
  daemonPid: number | null;
}

export interface LabState {
  version: typeof STATE_VERSION;
  phase: LabPhase;
  createdAt: string;
  stateFile: string;
  utsDir: string;
  underlay: LabPlan["underlay"];
  nodes: LabNodeState[];
}

export function initialState(plan: LabPlan, now = new Date()): LabState {
  return {
    version: STATE_VERSION,
    phase: "creating",
    createdAt: now.toISOString(),
    stateFile: plan.stateFile,
    utsDir: plan.utsDir,
    underlay: { ...plan.underlay },
    nodes: plan.nodes.map((n) => ({
      ...n,
      role: n.index === 1 ? "manager" : "worker",
      daemonPid: null,
    })),
  };
}

export function serializeState(state: LabState): string {
  return `${JSON.stringify(state, null, 2)}\n`;
}

export class LabStateError extends Error {
  override name = "LabStateError";
}

function str(o: Record<string, unknown>, key: string, where: string): string {
  const v = o[key];
  if (typeof v !== "string" || v === "") throw new LabStateError(`${where}: "${key}" missing`);
  return v;
}

function abs(o: Record<string, unknown>, key: string, where: string): string {
  const v = str(o, key, where);
  if (!v.startsWith("/") || v.includes("\0")) {
    throw new LabStateError(`${where}: "${key}" is not an absolute path`);
  }
  return v;
}

function safe(o: Record<string, unknown>, key: string, where: string): string {
  const v = str(o, key, where);
  try {
    return checkName(v);
  } catch {
    throw new LabStateError(`${where}: "${key}" is not a safe name: ${JSON.stringify(v)}`);
  }
}

function record(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new LabStateError(`${where}: not an object`);
  }
  return v as Record<string, unknown>;
}

/** Parses lab.json. Names and paths are checked: `lab down` kills and deletes by them. */
export function parseState(text: string): LabState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new LabStateError(`not JSON: ${(err as Error).message}`);
  }
  const o = record(raw, "lab state");
  if (o.version !== STATE_VERSION) {
    throw new LabStateError(`unsupported lab state version ${JSON.stringify(o.version)}`);
  }
  if (o.phase !== "creating" && o.phase !== "up") {
    throw new LabStateError(`unknown phase ${JSON.stringify(o.phase)}`);
  }
  const u = record(o.underlay, "underlay");
  if (!Array.isArray(o.nodes) || o.nodes.length === 0) {
    throw new LabStateError(`lab state: "nodes" missing`);
  }
  const nodes = o.nodes.map((v, i): LabNodeState => {
    const where = `nodes[${i}]`;
    const n = record(v, where);
    const pid = n.daemonPid;
    if (pid !== null && !(Number.isInteger(pid) && (pid as number) > 1)) {
      throw new LabStateError(`${where}: bad daemonPid`);
    }
    return {
      index: Number(n.index),
      name: safe(n, "name", where),
      netns: safe(n, "netns", where),
      address: str(n, "address", where),
      prefixLength: Number(n.prefixLength),
      underlayIf: safe(n, "underlayIf", where),
      utsFile: abs(n, "utsFile", where),
      dataDir: abs(n, "dataDir", where),
      host: str(n, "host", where),
      dockerHost: str(n, "dockerHost", where),
      log: abs(n, "log", where),
      pidFile: abs(n, "pidFile", where),
      nsPrefix: safe(n, "nsPrefix", where),
      role: n.role === "manager" ? "manager" : "worker",
      daemonPid: pid as number | null,
    };
  });
  return {
    version: STATE_VERSION,
    phase: o.phase,
    createdAt: str(o, "createdAt", "lab state"),
    stateFile: abs(o, "stateFile", "lab state"),
    utsDir: abs(o, "utsDir", "lab state"),
    underlay: {
      netns: safe(u, "netns", "underlay"),
      bridge: safe(u, "bridge", "underlay"),
      subnet: str(u, "subnet", "underlay"),
    },
    nodes,
  };
}

/** The node the CLI talks to: the first manager. */
export function managerNode(state: LabState): LabNodeState {
  return state.nodes.find((n) => n.role === "manager") ?? state.nodes[0]!;
}

export function findNode(state: LabState, name: string): LabNodeState | undefined {
  return state.nodes.find((n) => n.name === name);
}

/** `lab env`: lines a shell can eval. */
export function envLines(state: LabState): string[] {
  const m = managerNode(state);
  return [
    `# swarmnet lab (${state.nodes.length} nodes), manager ${m.name}: eval "$(swarmnet lab env)"`,
    `export SWARMNET_HOST=${m.host}`,
    "# The stock docker CLI drives the lab through the Docker-compatible API:",
    `export DOCKER_HOST=${m.dockerHost}`,
  ];
}

export interface DaemonLiveness {
  pid: number | null;
  running: boolean;
}

export interface StatusRow extends Record<string, unknown> {
  Node: string;
  Address: string;
  Role: string;
  Daemon: string;
  Pid: number | null;
  Running: boolean;
  Log: string;
}

/** `lab status` rows; DAEMON reads "1234 running", "1234 stopped" or "none". */
export function statusRows(
  state: LabState,
  liveness: (node: LabNodeState) => DaemonLiveness,
): StatusRow[] {
  return state.nodes.map((n) => {
    const l = liveness(n);
    return {
      Node: n.name,
      Address: `${n.address}/${n.prefixLength}`,
      Role: n.role,
      Daemon: l.pid === null ? "none" : `${l.pid} ${l.running ? "running" : "stopped"}`,
      Pid: l.pid,
      Running: l.running,
      Log: n.log,
    };
  });
}

/** Node names as a short list for messages: "node1..node3". */
export function nodeRange(state: LabState): string {
  const names = state.nodes.map((n) => n.name);
  return names.length === 1 ? names[0]! : `${names[0]}..${names[names.length - 1]}`;
}
