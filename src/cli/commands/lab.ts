// `swarmnet lab up|down|status|env|exec`: several swarmnet hosts on this
// machine, in network namespaces (see src/lab/README.md). These commands talk
// to no daemon; they drive the lab code in src/lab directly.
import { dirname } from "node:path";
import { dnsUpstreamFlag } from "../../core/dns-upstream.ts";
import { invalid } from "../../core/errors.ts";
import { labDown, labExec, labStatus, labUp, readState, requireState } from "../../lab/lab.ts";
import { DEFAULT_NODES, MAX_NODES } from "../../lab/plan.ts";
import { envLines, managerNode } from "../../lab/state.ts";
import { type Command, FORMAT_FLAGS, outputFormat, printRows } from "../context.ts";

const STATUS_COLUMNS: [string, string][] = [
  ["Node", "NODE"],
  ["Address", "ADDRESS"],
  ["Daemon", "DAEMON"],
  ["Log", "LOG"],
];

function noArgs(name: string, positionals: string[]): void {
  if (positionals.length) throw invalid(`"swarmnet ${name}" accepts no arguments`);
}

function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw invalid("the lab makes network namespaces: run it as root");
  }
}

export const labUpCmd: Command = {
  name: "lab up",
  synopsis: "[--nodes N] [--dns-upstream IP[:PORT]...]",
  summary: "Start a lab: N swarmnet hosts (node1..nodeN) in namespaces on this machine",
  flags: [
    {
      name: "nodes",
      short: "n",
      kind: "int",
      help: `Number of nodes, 1 to ${MAX_NODES} (default ${DEFAULT_NODES})`,
    },
    {
      name: "dns-upstream",
      kind: "list",
      help: "Resolver the nodes forward other names to (repeatable; default none, never this machine's)",
    },
  ],
  async run(ctx, args) {
    noArgs("lab up", args.positionals);
    const dnsUpstreams = dnsUpstreamFlag(args.flags["dns-upstream"] as string[]) ?? [];
    requireRoot();
    const nodes = (args.flags.nodes as number | undefined) ?? DEFAULT_NODES;
    // Ctrl-C: stop where we are and remove what was made (labUp does that).
    const abort = new AbortController();
    const onSignal = () => abort.abort();
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    try {
      const state = await labUp({ nodes, log: ctx.out, signal: abort.signal, dnsUpstreams });
      const m = managerNode(state);
      const { rows } = await labStatus();
      ctx.out("");
      printRows(ctx, { kind: "default" }, STATUS_COLUMNS, rows);
      ctx.out(
        `\nLab is up: ${state.nodes.length} node${state.nodes.length === 1 ? "" : "s"}, manager ${m.name} (${m.address}).` +
          `\nThe swarmnet CLI on this machine reaches it without flags; run commands on a node with 'swarmnet lab exec ${m.name} -- CMD'.` +
          `\nOther shells and tools: eval "$(swarmnet lab env)"`,
      );
      return 0;
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  },
};

export const labDownCmd: Command = {
  name: "lab down",
  synopsis: "",
  summary: "Remove the lab: its processes, namespaces, links and mounts",
  flags: [],
  async run(ctx, args) {
    noArgs("lab down", args.positionals);
    const state = await readState();
    if (!state) {
      ctx.out("No lab is running.");
      return 0;
    }
    requireRoot();
    await labDown(undefined, ctx.out);
    const labDir = dirname(state.nodes[0]!.dataDir);
    ctx.out(`Lab removed. Daemon logs stay in ${labDir}/node*/daemon.log until the next 'lab up'.`);
    return 0;
  },
};

export const labStatusCmd: Command = {
  name: "lab status",
  synopsis: "[OPTIONS]",
  summary: "Show the lab's nodes, their daemons and logs",
  flags: [...FORMAT_FLAGS],
  async run(ctx, args) {
    noArgs("lab status", args.positionals);
    const fmt = outputFormat(args);
    const { state, rows } = await labStatus();
    if (fmt.kind === "default") {
      ctx.out(
        `Lab: ${state.nodes.length} node${state.nodes.length === 1 ? "" : "s"} on underlay ${state.underlay.netns} (${state.underlay.subnet})${state.phase === "up" ? "" : ", not completely up: run 'swarmnet lab down'"}`,
      );
    }
    printRows(ctx, fmt, STATUS_COLUMNS, rows);
    return 0;
  },
};

export const labEnvCmd: Command = {
  name: "lab env",
  synopsis: "",
  summary: "Print export lines pointing SWARMNET_HOST and DOCKER_HOST at the lab",
  flags: [],
  async run(ctx, args) {
    noArgs("lab env", args.positionals);
    for (const line of envLines(await requireState())) ctx.out(line);
    return 0;
  },
};

export const labExecCmd: Command = {
  name: "lab exec",
  synopsis: "NODE [--] COMMAND [ARG...]",
  summary: "Run a command on a lab node (its network namespace and hostname)",
  flags: [],
  interspersed: false,
  async run(_ctx, args) {
    const [node, ...rest] = args.positionals;
    const argv = rest[0] === "--" ? rest.slice(1) : rest;
    if (!node || argv.length === 0) {
      throw invalid(`"swarmnet lab exec" requires a node and a command: lab exec NODE -- CMD...`);
    }
    requireRoot();
    return labExec(node, argv);
  },
};

export const LAB_COMMANDS: Command[] = [labUpCmd, labDownCmd, labStatusCmd, labEnvCmd, labExecCmd];
