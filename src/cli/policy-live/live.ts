// `swarmnet policy test --live`: the test file's workloads deployed as real
// services in the cluster the CLI talks to, the file's policies applied, every
// cell of every case probed with real connections from inside the client
// tasks' sandboxes, and the result compared with the expected matrices as the
// offline runner compares them (same report), plus the cells where the kernel
// and the model disagree. Everything this run created is removed afterwards,
// whatever happened (errors, Ctrl-C).
//
// Choices, and why:
// - Networks get a unique run prefix (`pt<hex>-<name>`): the file's network
//   names ("default") would collide with the user's. Services cannot: policies
//   select by labels and namespaces, and a service is named `<stack>_<name>`
//   as `docker stack deploy` names it, so an existing service of that name is
//   refused before anything is created, as is an existing policy of a name the
//   file defines (applying would silently replace the user's).
// - Extra namespace labels (`stacks: x: {labels}`) are refused: the cluster
//   has no way to put labels on a namespace yet, so a namespaceSelector on them
//   would be judged on a different picture than the file's.
// - Ports: a workload listening on exactly N/tcp and N/udp for each of its
//   numbers is the built-in responder with host-mode port configs (published 0:
//   nothing published). Any other set runs the responder with explicit
//   --ports (this installation's node and responder: the nodes must share it,
//   as a lab's do), and no ports runs a process that listens nowhere; so a
//   workload answers on exactly the ports the file lists, as the model assumes.
// - A cell reaches when every client task reaches every server task on the
//   case's port (address on a network they share; none shared: X, not probed).
// - `nets`/ipBlock policies see the real addresses, not the synthetic ones the
//   offline model uses: such cells may disagree with the model.
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { invalid } from "../../core/errors.ts";
import { evaluateFlow } from "../../policy/evaluate.ts";
import type { LoadedFile } from "../../policy/load.ts";
import { type Policy, STACK_LABEL } from "../../policy/model.ts";
import {
  type CaseResult,
  type CellMismatch,
  explainVerdict,
  type TestReport,
} from "../../policy/run-test.ts";
import {
  type TestFile,
  type TestWorkload,
  testNamespaces,
  testWorkloads,
} from "../../policy/test-file.ts";
import { type LiveProbe, type LiveProbeResult, localSandbox, probeFrom } from "./live-probe.ts";

const RESPONDER_MAIN = fileURLToPath(new URL("../../agent/responder-main.ts", import.meta.url));

/** What the live runner needs of the API client (src/cli/client.ts's Client). */
export interface Api {
  call<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
}

export interface LiveOptions {
  api: Api;
  tf: TestFile;
  /** The file's policies, parsed here (names, the model) … */
  policies: Policy[];
  /** … and as text, for the daemon to parse and store. */
  files: LoadedFile[];
  /** Progress and warnings (stderr). */
  log: (line: string) => void;
  /** Bounds, in ms: tasks running and answering; enforcement settling. */
  startTimeoutMs?: number;
  settleTimeoutMs?: number;
}

/** A cell where the kernel and the model disagree. */
export interface Disagreement {
  from: string;
  to: string;
  port: string;
  live: boolean;
  model: boolean;
  /** The model's reason, and what the failed probes said. */
  why: string;
}

export interface LiveReport extends TestReport {
  live: true;
  prefix: string;
  disagreements: Disagreement[];
}

interface LiveTask {
  id: string;
  workload: string;
  netns: string;
  /** network id → address (no prefix length). */
  addresses: Map<string, string>;
}

interface ApiTask {
  id: string;
  desiredState: string;
  nodeHostname: string;
  status: { state: string; err: string };
  networks: { networkId: string; addresses: string[] }[];
}

/** One cell of one case: every probe it needs (empty: the two share no network). */
interface Cell {
  caseIndex: number;
  from: string;
  to: string;
  probes: { netns: string; probe: LiveProbe }[];
}

export async function runLiveTest(opts: LiveOptions): Promise<LiveReport> {
  const { api, tf, log } = opts;
  refuseUnsupported(tf);
  const prefix = `pt${randomBytes(3).toString("hex")}`;
  const created = { networks: [] as string[], services: [] as string[], policies: [] as string[] };
  let cleaned: Promise<void> | undefined;
  const cleanup = () => {
    cleaned ??= removeCreated(api, created, log);
    return cleaned;
  };
  // Interrupted: clean up first, then exit as the signal would have.
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: removing what this run created`);
    void cleanup().finally(() => process.exit(sig === "SIGINT" ? 130 : 143));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    await checkCollisions(api, tf, opts.policies, log);
    log(`live: deploying ${tf.workloads.length} workloads (run ${prefix})`);
    const networkIds = new Map<string, string>();
    for (const name of new Set(tf.workloads.flatMap((w) => w.networks))) {
      const net = await api.call<{ id: string }>("POST", "/v1/networks", {
        name: `${prefix}-${name}`,
        driver: "overlay",
        attachable: false,
        internal: false,
        ingress: false,
        ipam: [],
        options: {},
        labels: { "swarmnet.policy-test": prefix },
      });
      created.networks.push(net.id);
      networkIds.set(name, net.id);
    }
    const serviceIds = new Map<string, string>();
    for (const w of tf.workloads) {
      const svc = await api.call<{ id: string }>(
        "POST",
        "/v1/services",
        serviceSpec(w, networkIds),
      );
      created.services.push(svc.id);
      serviceIds.set(w.id, svc.id);
    }

    const tasks = await waitRunning(api, tf, serviceIds, opts.startTimeoutMs ?? 90_000);
    const cells = planCells(tf, tasks, networkIds);
    const others = (await api.call<unknown[]>("GET", "/v1/policies")).length;
    // Baseline: before any policy, every listening server answers every peer
    // on a shared network; until it does, a policy's effect cannot be told
    // from a task that is not ready yet.
    const listening = baselineCells(tf, cells);
    const deadline = Date.now() + (opts.startTimeoutMs ?? 90_000);
    for (;;) {
      const round = await probeRound(listening);
      const silent = listening.filter((_, i) => !round[i]!.reaches);
      if (silent.length === 0) break;
      if (Date.now() > deadline) {
        const first = silent[0]!;
        const why = `${first.from} -> ${first.to} ${tf.cases[first.caseIndex]!.port.text}: ${round[listening.indexOf(first)]!.why}`;
        if (others > 0) {
          log(
            `warning: ${silent.length} cells fail before the test's policies (${why}); the cluster's ${others} other policies may be why`,
          );
          break;
        }
        throw new Error(`the workloads do not answer each other before any policy (${why})`);
      }
    }

    log(`live: applying ${opts.policies.length} policies`);
    // Recorded before the request: had it been applied but its answer lost,
    // cleanup still removes them (none existed before: checkCollisions).
    created.policies.push(...opts.policies.map((p) => p.name));
    const applied = await api.call<{ applied: { name: string }[]; warnings: string[] }>(
      "POST",
      "/v1/policies",
      { files: opts.files },
    );
    for (const w of applied.warnings) log(`warning: ${w}`);

    const model = modelCells(tf, opts.policies, cells);
    const live = await settle(cells, model, opts.settleTimeoutMs ?? 30_000);
    return compare(tf, prefix, cells, live, model);
  } finally {
    await cleanup();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

function refuseUnsupported(tf: TestFile): void {
  const labelled = [...tf.stacks].filter(([, labels]) => Object.keys(labels).length > 0);
  if (labelled.length > 0)
    throw invalid(
      `policy test --live cannot label namespaces in the cluster (stacks ${labelled.map(([s]) => s).join(", ")} have labels in ${tf.file}): run it without --live`,
    );
  const sctp = [...tf.workloads.flatMap((w) => w.ports), ...tf.cases.map((c) => c.port)].find(
    (p) => p.protocol !== 6 && p.protocol !== 17,
  );
  if (sctp)
    throw invalid(
      `policy test --live probes TCP and UDP only, not ${sctp.text}: run it without --live`,
    );
}

/** Refuses before creating anything when a service or policy of the file's names exists. */
async function checkCollisions(
  api: Api,
  tf: TestFile,
  policies: Policy[],
  log: (line: string) => void,
): Promise<void> {
  const services = new Set(
    (await api.call<{ spec: { name: string } }[]>("GET", "/v1/services")).map((s) => s.spec.name),
  );
  const taken = tf.workloads.map(serviceName).filter((n) => services.has(n));
  if (taken.length > 0)
    throw invalid(
      `policy test --live creates services ${taken.join(", ")}, which already exist: remove them or use another cluster`,
    );
  const stored = (await api.call<{ policy: { name: string } }[]>("GET", "/v1/policies")).map(
    (p) => p.policy.name,
  );
  const mine = new Set(policies.map((p) => p.name));
  const clash = stored.filter((n) => mine.has(n));
  if (clash.length > 0)
    throw invalid(
      `policy test --live would replace the cluster's policies ${clash.join(", ")}: remove them first`,
    );
  if (stored.length > 0)
    log(
      `warning: the cluster has ${stored.length} other policies (${stored.join(", ")}); they apply to the test's workloads too`,
    );
}

function serviceName(w: TestWorkload): string {
  return `${w.stack}_${w.name}`;
}

function serviceSpec(w: TestWorkload, networkIds: Map<string, string>) {
  const name = serviceName(w);
  const numbers = [...new Set(w.ports.map((p) => p.port))];
  const has = (port: number, protocol: number) =>
    w.ports.some((p) => p.port === port && p.protocol === protocol);
  // The responder's own port set (see responderPorts): both protocols of each number.
  const responderSet = numbers.length > 0 && numbers.every((n) => has(n, 6) && has(n, 17));
  let command: string[] = [];
  let ports: unknown[] = [];
  if (responderSet) {
    ports = w.ports.map((p) => ({
      protocol: p.protocol === 17 ? "udp" : "tcp",
      targetPort: p.port,
      publishedPort: 0,
      publishMode: "host",
    }));
  } else if (w.ports.length > 0) {
    command = [
      process.execPath,
      "--disable-warning=ExperimentalWarning",
      RESPONDER_MAIN,
      "--service",
      name,
      "--stack",
      w.stack,
      "--ports",
      w.ports.map((p) => p.text).join(","),
    ];
  } else {
    command = [process.execPath, "-e", "setInterval(() => {}, 1 << 30)"];
  }
  return {
    name,
    labels: { ...w.labels, [STACK_LABEL]: w.stack },
    containerLabels: {},
    image: "",
    command,
    mode: { replicated: { replicas: w.replicas } },
    networks: w.networks.map((n) => ({ target: networkIds.get(n)!, aliases: [] })),
    endpoint: { mode: "vip", ports },
    placement: { constraints: [] },
  };
}

/** Every task running with an address on each of its networks and a sandbox on this machine. */
async function waitRunning(
  api: Api,
  tf: TestFile,
  serviceIds: Map<string, string>,
  timeoutMs: number,
): Promise<Map<string, LiveTask[]>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const out = new Map<string, LiveTask[]>();
    let missing = "";
    for (const w of tf.workloads) {
      const rows = (
        await api.call<ApiTask[]>("GET", `/v1/tasks?service=${serviceIds.get(w.id)!}&live=true`)
      ).filter((t) => t.desiredState === "running");
      const ready: LiveTask[] = [];
      for (const t of rows) {
        const addresses = new Map(
          t.networks
            .filter((n) => n.addresses.length > 0)
            .map((n) => [n.networkId, n.addresses[0]!.split("/")[0]!]),
        );
        if (t.status.state !== "running" || addresses.size < w.networks.length) continue;
        const netns = localSandbox(t.id);
        if (!netns)
          throw invalid(
            `task ${t.id.slice(0, 12)} of ${serviceName(w)} runs on node ${t.nodeHostname}, not on this machine: policy test --live probes from the tasks' sandboxes, so run it on a machine that hosts every node (a lab host)`,
          );
        ready.push({ id: t.id, workload: w.id, netns, addresses });
      }
      if (ready.length !== w.replicas || rows.length !== w.replicas)
        missing ||= `${serviceName(w)}: ${ready.length}/${w.replicas} running${rows.find((t) => t.status.err)?.status.err ? ` (${rows.find((t) => t.status.err)!.status.err})` : ""}`;
      out.set(w.id, ready);
    }
    if (!missing) return out;
    if (Date.now() > deadline) throw new Error(`tasks did not start in time: ${missing}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

function planCells(
  tf: TestFile,
  tasks: Map<string, LiveTask[]>,
  networkIds: Map<string, string>,
): Cell[] {
  const declared = new Map(tf.workloads.map((w) => [w.id, w]));
  const cells: Cell[] = [];
  tf.cases.forEach((c, caseIndex) => {
    const kind = c.port.protocol === 17 ? "udp" : "tcp";
    for (const from of c.clients) {
      for (const to of c.expect.get(from)?.keys() ?? []) {
        const fromNets = new Set(declared.get(from)!.networks.map((n) => networkIds.get(n)!));
        const shared = declared
          .get(to)!
          .networks.map((n) => networkIds.get(n)!)
          .find((id) => fromNets.has(id));
        const probes: Cell["probes"] = [];
        if (shared !== undefined) {
          for (const client of tasks.get(from)!) {
            for (const server of tasks.get(to)!) {
              const addr = server.addresses.get(shared)!;
              probes.push({ netns: client.netns, probe: { kind, addr, port: c.port.port } });
            }
          }
        }
        cells.push({ caseIndex, from, to, probes });
      }
    }
  });
  return cells;
}

/** The cells that must reach with no policy at all: a shared network and a listening server. */
function baselineCells(tf: TestFile, cells: Cell[]): Cell[] {
  const declared = new Map(tf.workloads.map((w) => [w.id, w]));
  return cells.filter((cell) => {
    const port = tf.cases[cell.caseIndex]!.port;
    return (
      cell.probes.length > 0 &&
      declared.get(cell.to)!.ports.some((p) => p.port === port.port && p.protocol === port.protocol)
    );
  });
}

interface CellResult {
  reaches: boolean;
  /** The failed probes, for the report. */
  why: string;
}

/** Probes every cell once: one process per client sandbox, each distinct probe once. */
async function probeRound(cells: Cell[]): Promise<CellResult[]> {
  const key = (netns: string, p: LiveProbe) => `${netns} ${p.kind} ${p.addr} ${p.port}`;
  const bySandbox = new Map<string, Map<string, LiveProbe>>();
  for (const cell of cells) {
    for (const { netns, probe } of cell.probes) {
      if (!bySandbox.has(netns)) bySandbox.set(netns, new Map());
      bySandbox.get(netns)!.set(key(netns, probe), probe);
    }
  }
  const results = new Map<string, LiveProbeResult>();
  await Promise.all(
    [...bySandbox].map(async ([netns, probes]) => {
      const list = [...probes.values()];
      const got = await probeFrom(netns, list);
      for (const [i, p] of list.entries()) results.set(key(netns, p), got[i]!);
    }),
  );
  return cells.map((cell) => {
    if (cell.probes.length === 0) return { reaches: false, why: "no shared network, not probed" };
    const failed = cell.probes
      .map(({ netns, probe }) => results.get(key(netns, probe))!)
      .filter((r) => !r.ok);
    const reaches = failed.length === 0;
    const partly = failed.length < cell.probes.length ? " (some task pairs reach)" : "";
    return {
      reaches,
      why: reaches
        ? "every probe answered"
        : `${[...new Set(failed.map((r) => `${r.kind} ${r.addr}:${r.port} ${r.error ?? "failed"}`))].join(", ")}${partly}`,
    };
  });
}

interface ModelCell {
  reaches: boolean;
  why: string;
}

/** The offline verdict of every cell, as run-test.ts computes it. */
function modelCells(tf: TestFile, policies: Policy[], cells: Cell[]): ModelCell[] {
  const namespaces = testNamespaces(tf);
  const endpoints = new Map(testWorkloads(tf).map((w) => [w.id, w]));
  const declared = new Map(tf.workloads.map((w) => [w.id, w]));
  return cells.map((cell) => {
    const port = tf.cases[cell.caseIndex]!.port;
    const listens = declared
      .get(cell.to)!
      .ports.some((p) => p.port === port.port && p.protocol === port.protocol);
    const from = endpoints.get(cell.from)!;
    const to = endpoints.get(cell.to)!;
    const verdict = evaluateFlow({
      policies,
      namespaces,
      from,
      to,
      port: port.port,
      protocol: port.protocol,
    });
    return {
      reaches: listens && verdict.allowed,
      why: listens
        ? explainVerdict(verdict, from, to)
        : `${cell.to} does not listen on ${port.text}`,
    };
  });
}

/**
 * Probes until enforcement has settled: at once when the kernel agrees with
 * the model everywhere; otherwise once three rounds in a row agree and at
 * least 5 s have passed since the policies were applied (rules reach every
 * node asynchronously), or the bound passes (the last round counts).
 */
async function settle(cells: Cell[], model: ModelCell[], timeoutMs: number): Promise<CellResult[]> {
  const start = Date.now();
  const sig = (r: CellResult[]) => r.map((c) => (c.reaches ? "." : "X")).join("");
  let same = 0;
  let last: CellResult[] | undefined;
  for (;;) {
    const round = await probeRound(cells);
    if (round.every((c, i) => c.reaches === model[i]!.reaches)) return round;
    same = last && sig(last) === sig(round) ? same + 1 : 1;
    last = round;
    const elapsed = Date.now() - start;
    if ((same >= 3 && elapsed >= 5_000) || elapsed > timeoutMs) return round;
  }
}

function compare(
  tf: TestFile,
  prefix: string,
  cells: Cell[],
  live: CellResult[],
  model: ModelCell[],
): LiveReport {
  const disagreements: Disagreement[] = [];
  const cases = tf.cases.map((c, caseIndex): CaseResult => {
    const mismatches: CellMismatch[] = [];
    cells.forEach((cell, i) => {
      if (cell.caseIndex !== caseIndex) return;
      const got = live[i]!.reaches;
      const expected = c.expect.get(cell.from)!.get(cell.to)!;
      const why = `live: ${live[i]!.why}; model: ${model[i]!.reaches ? "." : "X"}, ${model[i]!.why}`;
      if (got !== expected)
        mismatches.push({ from: cell.from, to: cell.to, port: c.port.text, expected, got, why });
      if (got !== model[i]!.reaches)
        disagreements.push({
          from: cell.from,
          to: cell.to,
          port: c.port.text,
          live: got,
          model: model[i]!.reaches,
          why,
        });
    });
    return { name: c.name, port: c.port.text, ok: mismatches.length === 0, mismatches };
  });
  const failed = cases.filter((c) => !c.ok).length;
  return {
    file: tf.file,
    ok: failed === 0,
    passed: cases.length - failed,
    failed,
    cases,
    live: true,
    prefix,
    disagreements,
  };
}

/** The human lines after the report: where the kernel and the model disagree. */
export function formatDisagreements(report: LiveReport): string {
  if (report.disagreements.length === 0)
    return "live: the kernel agrees with the model on every cell";
  return [
    `live: the kernel and the model disagree on ${report.disagreements.length} cells:`,
    ...report.disagreements.map(
      (d) =>
        `      ${d.from} -> ${d.to} ${d.port}: live ${d.live ? "." : "X"}, model ${d.model ? "." : "X"} (${d.why})`,
    ),
  ].join("\n");
}

/** Removes policies, then services, then networks (a network is in use until its tasks are gone). */
async function removeCreated(
  api: Api,
  created: { networks: string[]; services: string[]; policies: string[] },
  log: (line: string) => void,
): Promise<void> {
  const problems: string[] = [];
  const quietly = async (what: string, f: () => Promise<unknown>) => {
    try {
      await f();
    } catch (err) {
      problems.push(`${what}: ${(err as Error).message}`);
    }
  };
  for (const name of created.policies)
    await quietly(`policy ${name}`, async () => {
      try {
        await api.call("DELETE", `/v1/policies/${encodeURIComponent(name)}`);
      } catch (err) {
        // Never applied (the request failed): nothing to remove.
        if ((err as { status?: number }).status !== 404) throw err;
      }
    });
  for (const id of created.services)
    await quietly(`service ${id}`, () => api.call("DELETE", `/v1/services/${id}`));
  const deadline = Date.now() + 60_000;
  for (const id of created.networks) {
    for (;;) {
      try {
        await api.call("DELETE", `/v1/networks/${id}`);
        break;
      } catch (err) {
        if ((err as { status?: number }).status === 404) break;
        if (Date.now() > deadline) {
          problems.push(`network ${id}: ${(err as Error).message}`);
          break;
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
  for (const p of problems) log(`warning: cleanup: ${p}`);
}
