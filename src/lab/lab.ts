// The lab: several swarmnet hosts on one machine. `labUp` makes the network
// (an underlay namespace with a bridge, one namespace per node with a veth on
// it, a persistent UTS namespace per node for its hostname), then runs the
// real CLI on the nodes as a user would on real hosts (`startClusterDaemons`).
// `labDown` removes exactly what the state file says the lab made. A failed
// or interrupted `labUp` tears down everything it made before it returns.
import { spawn } from "node:child_process";
import { mkdir, readFile, rename, rm, rmdir, writeFile } from "node:fs/promises";
import { constants } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseDnsUpstream } from "../core/dns-upstream.ts";
import { notFound, precondition } from "../core/errors.ts";
import { restoreSandboxLogging } from "../dataplane/linux/kernel-log.ts";
import {
  deleteNamespacesBatch,
  initArgs,
  joinArgs,
  joinTokenArgs,
  namespacesBatch,
  namespacesToDelete,
  nodeBatch,
  nodeSetupArgv,
  onNodeArgv,
  underlayBatch,
  unlinkBatch,
} from "./commands.ts";
import {
  alive,
  inNetns,
  ipBatch,
  listNetns,
  mustRun,
  netnsInode,
  netnsPids,
  readPidFile,
  run,
  stopProcesses,
  unmountAll,
} from "./kernel.ts";
import {
  DEFAULT_CONFIG,
  type LabConfig,
  type LabPlan,
  type NodePlan,
  planLab,
  plannedNamespaces,
  STATE_FILE,
} from "./plan.ts";
import {
  type DaemonLiveness,
  findNode,
  initialState,
  type LabNodeState,
  type LabState,
  LabStateError,
  nodeRange,
  parseState,
  type StatusRow,
  serializeState,
  statusRows,
} from "./state.ts";

export type Log = (line: string) => void;

const CLI_MAIN = fileURLToPath(new URL("../cli/main.ts", import.meta.url));
/** How long one CLI step (init, join-token, join) may take. */
const CLI_TIMEOUT_MS = 60_000;

function stateFileOf(config: LabConfig): string {
  return `${config.stateDir}/${STATE_FILE}`;
}

/** The lab recorded on this machine, or undefined when there is none. */
export async function readState(config: LabConfig = DEFAULT_CONFIG): Promise<LabState | undefined> {
  const path = stateFileOf(config);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    return parseState(text);
  } catch (err) {
    if (err instanceof LabStateError) {
      throw new Error(
        `the lab state file ${path} is damaged (${err.message}); check 'ip netns list' and remove what the lab made by hand, then the file`,
      );
    }
    throw err;
  }
}

async function writeState(state: LabState): Promise<void> {
  const tmp = `${state.stateFile}.tmp`;
  await writeFile(tmp, serializeState(state), { mode: 0o600 });
  await rename(tmp, state.stateFile);
}

function alreadyRunning(state: LabState): Error {
  return precondition(
    `a lab is already running (${state.nodes.length} node${state.nodes.length === 1 ? "" : "s"}); run 'swarmnet lab down' first`,
  );
}

/** Takes the state file (exclusive create: two `lab up` cannot both win) and
 * checks that nothing the plan would make exists already. */
async function claim(plan: LabPlan, state: LabState, config: LabConfig): Promise<void> {
  await mkdir(config.stateDir, { recursive: true, mode: 0o755 });
  try {
    await writeFile(plan.stateFile, serializeState(state), { flag: "wx", mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    const existing = await readState(config);
    throw existing ? alreadyRunning(existing) : err;
  }
  try {
    const existing = await listNetns();
    const planned = plannedNamespaces(plan);
    const clash = existing.find(
      (ns) => planned.includes(ns) || plan.nodes.some((n) => ns.startsWith(n.nsPrefix)),
    );
    if (clash) {
      throw precondition(
        `network namespace "${clash}" already exists and no lab records it; remove it first ('ip netns del ${clash}')`,
      );
    }
  } catch (err) {
    await rm(plan.stateFile, { force: true });
    throw err;
  }
}

/** The network part of a lab: namespaces, underlay bridge, veths, addresses,
 * hostnames, forwarding. Exported for the root test, which stops here. */
export async function createNetwork(plan: LabPlan, signal?: AbortSignal): Promise<void> {
  await mkdir(plan.utsDir, { recursive: true, mode: 0o755 });
  // The machine's own network namespace, for agents that must change a
  // sysctl only it has (policy logging's nf_log_all_netns): PID 1's may not
  // be open to them.
  const hostNet = hostNetnsFile(plan.utsDir);
  await unmountAll(hostNet);
  await writeFile(hostNet, "");
  await mustRun(["mount", "--bind", "/proc/self/ns/net", hostNet], { signal, timeoutMs: 10_000 });
  await ipBatch(namespacesBatch(plan), { signal });
  await ipBatch(underlayBatch(plan), { netns: plan.underlay.netns, signal });
  await Promise.all(
    plan.nodes.map(async (node) => {
      await ipBatch(nodeBatch(node), { netns: node.netns, signal });
      await unmountAll(node.utsFile); // a stale mount of a lab whose state file was lost
      await writeFile(node.utsFile, "");
      await mustRun(nodeSetupArgv(node), { signal, timeoutMs: 10_000 });
    }),
  );
}

/** Where `lab up` keeps a handle on this machine's network namespace. */
export function hostNetnsFile(utsDir: string): string {
  return `${utsDir}/host-net`;
}

/** argv running the swarmnet CLI (this checkout's) on the project's Node. */
export function cliArgv(args: readonly string[]): string[] {
  return [process.execPath, "--disable-warning=ExperimentalWarning", CLI_MAIN, ...args];
}

/** Runs one swarmnet CLI command on a node, as a user on that host would. */
async function runCliOn(node: NodePlan, args: string[], signal?: AbortSignal): Promise<string> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SWARMNET_NETNS_PREFIX: node.nsPrefix,
    SWARMNET_HOST_NETNS: hostNetnsFile(dirname(node.utsFile)),
  };
  delete env.SWARMNET_HOST; // --host is always given; a stray one must not confuse anything
  const r = await run(onNodeArgv(node, cliArgv(args)), {
    env,
    cwd: node.dataDir,
    signal,
    timeoutMs: CLI_TIMEOUT_MS,
  });
  if (r.code === 0) return r.stdout;
  const said = (r.stderr.trim() || r.stdout.trim()).split("\n").slice(-3).join(" / ");
  if (args[0] === "join" && said.includes('unknown command "join"')) {
    throw new Error(
      `'swarmnet join' is not available in this build, and the lab needs it to add ${node.name} to the swarm (a one-node lab, 'lab up --nodes 1', needs only init)`,
    );
  }
  throw new Error(
    `'swarmnet ${args[0]}' on ${node.name} failed (exit ${r.code}): ${said}; daemon log: ${node.log}`,
  );
}

/**
 * The cluster part of `lab up`, exactly what a user types on real hosts:
 * `swarmnet init` on node1 (which starts its daemon in the background, in
 * node1's namespaces since it inherits them), `swarmnet join-token -q worker`
 * against node1, then `swarmnet join` on every other node. Each daemon writes
 * its pid to DATA_DIR/daemon.pid; those are returned by node name.
 */
export async function startClusterDaemons(
  nodes: readonly NodePlan[],
  opts: { log: Log; signal?: AbortSignal; dnsUpstreams?: readonly string[] },
): Promise<Map<string, number | null>> {
  const [manager, ...workers] = nodes;
  if (!manager) throw new Error("a lab needs at least one node");
  const dns = opts.dnsUpstreams ?? [];
  opts.log(`${manager.name}: swarmnet init --advertise-addr ${manager.address}`);
  await runCliOn(manager, initArgs(manager, dns), opts.signal);
  const pids = new Map<string, number | null>([[manager.name, readPidFile(manager.pidFile)]]);
  if (workers.length === 0) return pids;
  const token = (await runCliOn(manager, joinTokenArgs(manager), opts.signal)).trim();
  for (const w of workers) {
    opts.log(`${w.name}: swarmnet join ${manager.address}`);
    await runCliOn(w, joinArgs(w, token, manager, dns), opts.signal);
    pids.set(w.name, readPidFile(w.pidFile));
  }
  return pids;
}

async function freshDataDirs(plan: LabPlan, config: LabConfig): Promise<void> {
  await mkdir(config.labDir, { recursive: true, mode: 0o755 });
  for (const n of plan.nodes) {
    await rm(n.dataDir, { recursive: true, force: true }); // logs of the previous lab
    await mkdir(n.dataDir, { recursive: true, mode: 0o700 });
  }
}

export interface UpOptions {
  config?: LabConfig;
  nodes: number;
  log?: Log;
  signal?: AbortSignal;
  /** false: make the network only (the root test); default true. */
  cluster?: boolean;
  /** Resolvers ("IP[:PORT]") the nodes' DNS forwards other names to; default none
   * (external names fail fast), never the machine's: the lab cannot reach them. */
  dnsUpstreams?: readonly string[];
}

/** `swarmnet lab up`. On any failure, everything made so far is removed first. */
export async function labUp(opts: UpOptions): Promise<LabState> {
  const config = opts.config ?? DEFAULT_CONFIG;
  const log = opts.log ?? (() => {});
  const plan = planLab(config, opts.nodes);
  // Checked before anything is made: a bad address must not cost a half-made lab.
  const dnsUpstreams = (opts.dnsUpstreams ?? []).map(parseDnsUpstream);
  let state = initialState(plan);
  await claim(plan, state, config);
  try {
    await freshDataDirs(plan, config);
    log(
      `Creating ${plan.nodes.length} node${plan.nodes.length === 1 ? "" : "s"} on underlay ${plan.underlay.netns} (${plan.underlay.subnet})`,
    );
    await createNetwork(plan, opts.signal);
    if (opts.cluster !== false) {
      const pids = await startClusterDaemons(plan.nodes, {
        log,
        signal: opts.signal,
        dnsUpstreams,
      });
      state = {
        ...state,
        nodes: state.nodes.map((n) => ({ ...n, daemonPid: pids.get(n.name) ?? null })),
      };
    }
    state = { ...state, phase: "up" };
    await writeState(state);
    return state;
  } catch (err) {
    const problems = await teardown(state, () => {});
    const cause = opts.signal?.aborted ? "interrupted" : (err as Error).message;
    const left = problems.length
      ? ` Cleanup was incomplete: ${problems.join("; ")}; run 'swarmnet lab down' to retry.`
      : " Everything it made was removed.";
    const e = new Error(`lab up failed: ${cause}.${left}`);
    (e as { cause?: unknown }).cause = err;
    throw e;
  }
}

/** Stops every process in the given namespaces: first the node daemons (by
 * their pid files, so they close cleanly), then whatever else lives there. */
async function stopLabProcesses(
  state: LabState,
  names: Parameters<typeof namespacesToDelete>[0],
): Promise<number[]> {
  const namespacesBefore = namespacesToDelete(names, await listNetns());
  const inodes = new Set(
    namespacesBefore.map(netnsInode).filter((i): i is number => i !== undefined),
  );
  const daemons = state.nodes
    .flatMap((n) => [readPidFile(n.pidFile), n.daemonPid])
    .filter((p): p is number => p !== null && inNetns(p, inodes));
  await stopProcesses(daemons);
  let left: number[] = [];
  for (let round = 0; round < 3; round++) {
    // Listed again each round: an agent may have made sandboxes (and started tasks) until it stopped.
    const namespaces = namespacesToDelete(names, await listNetns());
    const pids = (await Promise.all(namespaces.map(netnsPids)))
      .flat()
      .filter((p) => p !== process.pid && p !== process.ppid && alive(p));
    if (pids.length === 0) return [];
    left = await stopProcesses(pids, 2000);
  }
  return left;
}

/**
 * Removes what the lab made, by the state's names only: processes in its
 * namespaces, the underlay links, its namespaces and the agents' ones (a
 * node's prefix, e.g. "sn-node1-"), the UTS mounts, then the state file —
 * which stays when something could not be removed, so `lab down` can retry.
 * Returns what could not be removed (empty when all is gone).
 */
export async function teardown(state: LabState, log: Log): Promise<string[]> {
  const problems: string[] = [];
  const names = { underlayNs: state.underlay.netns, nodes: state.nodes };
  const left = await stopLabProcesses(state, names);
  if (left.length) problems.push(`processes still running: ${left.join(", ")}`);
  const existing = await listNetns(); // agents may have made more before they stopped
  const doomed = namespacesToDelete(names, existing);
  if (doomed.length) log(`Removing namespaces: ${doomed.join(" ")}`);
  if (existing.includes(state.underlay.netns)) {
    const ifs = {
      bridge: state.underlay.bridge,
      underlayIfs: state.nodes.map((n) => n.underlayIf),
    };
    await ipBatch(unlinkBatch(ifs), { netns: state.underlay.netns, force: true });
  }
  if (doomed.length) await ipBatch(deleteNamespacesBatch(doomed), { force: true });
  const remaining = namespacesToDelete(names, await listNetns());
  if (remaining.length) problems.push(`namespaces not removed: ${remaining.join(" ")}`);
  for (const n of state.nodes) {
    try {
      await unmountAll(n.utsFile);
      await rm(n.utsFile, { force: true });
    } catch (err) {
      problems.push(`UTS namespace ${n.utsFile}: ${(err as Error).message}`);
    }
    // An agent that turned policy logging on left what it found; put it back.
    try {
      restoreSandboxLogging(join(n.dataDir, "agent"));
    } catch (err) {
      problems.push(`net.netfilter.nf_log_all_netns: ${(err as Error).message}`);
    }
  }
  try {
    await unmountAll(hostNetnsFile(state.utsDir));
    await rm(hostNetnsFile(state.utsDir), { force: true });
  } catch (err) {
    problems.push(`host network namespace handle: ${(err as Error).message}`);
  }
  await rmdir(state.utsDir).catch(() => {});
  if (problems.length === 0) {
    await rm(state.stateFile, { force: true });
    await rmdir(state.stateFile.slice(0, state.stateFile.lastIndexOf("/"))).catch(() => {});
  }
  return problems;
}

/** `swarmnet lab down`: false when there was no lab (a no-op). */
export async function labDown(
  config: LabConfig = DEFAULT_CONFIG,
  log: Log = () => {},
): Promise<boolean> {
  const state = await readState(config);
  if (!state) return false;
  const problems = await teardown(state, log);
  if (problems.length) {
    throw new Error(`lab down could not remove everything: ${problems.join("; ")}`);
  }
  return true;
}

export function daemonLiveness(node: LabNodeState): DaemonLiveness {
  const pid = readPidFile(node.pidFile) ?? node.daemonPid;
  const ino = netnsInode(node.netns);
  const running = pid !== null && ino !== undefined && inNetns(pid, new Set([ino]));
  return { pid, running };
}

export async function requireState(config: LabConfig = DEFAULT_CONFIG): Promise<LabState> {
  const state = await readState(config);
  if (!state) throw notFound("no lab is running (start one with 'swarmnet lab up')");
  return state;
}

export async function labStatus(
  config: LabConfig = DEFAULT_CONFIG,
): Promise<{ state: LabState; rows: StatusRow[] }> {
  const state = await requireState(config);
  return { state, rows: statusRows(state, daemonLiveness) };
}

/** `swarmnet lab exec NODE -- CMD...`: CMD in the node's network and UTS
 * namespaces with our stdio; resolves to CMD's exit code (128+n for signal n). */
export async function labExec(
  nodeName: string,
  argv: readonly string[],
  config: LabConfig = DEFAULT_CONFIG,
): Promise<number> {
  const state = await requireState(config);
  const node = findNode(state, nodeName);
  if (!node) throw notFound(`no such lab node: ${nodeName} (the lab has ${nodeRange(state)})`);
  const full = onNodeArgv(node, argv);
  const child = spawn(full[0]!, full.slice(1), { stdio: "inherit" });
  // The terminal's Ctrl-C reaches the child by itself (same process group);
  // a SIGTERM/SIGHUP sent to us alone is passed on.
  const ignore = () => {};
  const forward = (sig: NodeJS.Signals) => child.kill(sig);
  process.on("SIGINT", ignore);
  process.on("SIGTERM", forward);
  process.on("SIGHUP", forward);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once("error", (err) => reject(new Error(`cannot run nsenter: ${err.message}`)));
      child.once("close", (code, sig) =>
        resolve(code ?? 128 + (sig ? (constants.signals[sig] ?? 0) : 0)),
      );
    });
  } finally {
    process.off("SIGINT", ignore);
    process.off("SIGTERM", forward);
    process.off("SIGHUP", forward);
  }
}
