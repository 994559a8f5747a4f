// Standalone tasks and sandboxes: run, rm, exec, logs, network connect/disconnect.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { invalid } from "../../core/errors.ts";
import type { Container } from "../../core/model.ts";
import { type Command, type Ctx, need } from "../context.ts";
import { keyValues } from "../flags.ts";
import { eachArg } from "./each.ts";

type LogEntry = { task?: string; line: string; time: string };

const TERMINAL = ["complete", "failed", "shutdown", "rejected"];

/** Prints log entries not printed yet (entries are ordered; `seen` counts printed ones). */
async function followLogs(
  ctx: Ctx,
  path: string,
  prefix: boolean,
  until: () => Promise<boolean>,
): Promise<void> {
  let seen = 0;
  for (;;) {
    const done = await until();
    const entries = await ctx.client.call<LogEntry[]>("GET", path);
    for (const e of entries.slice(seen)) ctx.out(prefix ? `${e.task}    | ${e.line}` : e.line);
    seen = Math.max(seen, entries.length);
    if (done) return;
    await sleep(500);
  }
}

export const run: Command = {
  name: "run",
  synopsis: "[OPTIONS] --name NAME --network NET [--] [COMMAND] [ARG...]",
  summary: "Run a standalone task on an attachable network",
  interspersed: false,
  flags: [
    { name: "name", kind: "string", help: "Assign a name to the task" },
    { name: "network", kind: "list", help: "Connect to an attachable network" },
    { name: "network-alias", kind: "list", help: "Add network-scoped alias for the task" },
    { name: "label", short: "l", kind: "list", help: "Set metadata" },
    { name: "detach", short: "d", kind: "bool", help: "Run in the background and print its ID" },
  ],
  async run(ctx, args) {
    const c = await ctx.client.call<Container>("POST", "/v1/containers", {
      name: args.flags.name,
      networks: args.flags.network,
      aliases: args.flags["network-alias"],
      labels: keyValues(args.flags.label as string[], "label"),
      command: args.positionals,
    });
    if (args.flags.detach) {
      ctx.out(c.id);
      return 0;
    }
    let last = c;
    await followLogs(ctx, `/v1/containers/${c.id}/logs`, false, async () => {
      last = await ctx.client.call<Container>("GET", `/v1/containers/${c.id}`);
      return TERMINAL.includes(last.status.state);
    });
    const code = /\((\d+)\)/.exec(last.status.err)?.[1];
    return last.status.state === "complete" ? 0 : code ? Number(code) : 125;
  },
};

export const rm: Command = {
  name: "rm",
  synopsis: "[OPTIONS] NAME [NAME...]",
  summary: "Remove one or more standalone tasks",
  flags: [{ name: "force", short: "f", kind: "bool", help: "Force the removal of a running task" }],
  async run(ctx, args) {
    need(args, 1, "NAME", this.name);
    return eachArg(ctx, args.positionals, async (ref) => {
      await ctx.client.call(
        "DELETE",
        `/v1/containers/${encodeURIComponent(ref)}?force=${args.flags.force === true}`,
      );
      ctx.out(ref);
    });
  },
};

/** The sandbox namespace of an owner on this machine, whatever node prefix its agent uses. */
function localSandbox(ownerId: string): string | undefined {
  if (!existsSync("/run/netns")) return undefined;
  const suffix = `sb-${ownerId.slice(0, 12)}`;
  return readdirSync("/run/netns").find((n) => n.endsWith(suffix));
}

export const exec: Command = {
  name: "exec",
  synopsis: "TASK_OR_CONTAINER [--] COMMAND [ARG...]",
  summary: "Run a command inside a task's sandbox",
  interspersed: false,
  flags: [],
  async run(ctx, args) {
    need(args, 2, "TASK and COMMAND", this.name);
    const [ref, ...command] = args.positionals as [string, ...string[]];
    const cmd = command[0] === "--" ? command.slice(1) : command;
    if (cmd.length === 0) throw invalid(`"swarmnet exec" requires a command to run`);
    const sb = await ctx.client.call<{
      id: string;
      name: string;
      nodeHostname: string;
      state: string;
    }>("GET", `/v1/sandboxes/${encodeURIComponent(ref)}`);
    const ns = localSandbox(sb.id);
    if (!ns) {
      throw invalid(
        sb.state === "running"
          ? `${sb.name} runs on node ${sb.nodeHostname}, not on this machine: run swarmnet exec there`
          : `${sb.name} is not running (state ${sb.state})`,
      );
    }
    // Join the task's hostname and mounts too (its /etc/resolv.conf names the
    // embedded DNS), through one of its processes.
    const pids = spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8" })
      .stdout.split("\n")
      .filter(Boolean);
    const uts = pids[0] ? [`--uts=/proc/${pids[0]}/ns/uts`, `--mount=/proc/${pids[0]}/ns/mnt`] : [];
    const result = spawnSync("nsenter", [`--net=/run/netns/${ns}`, ...uts, "--", ...cmd], {
      stdio: "inherit",
    });
    if (result.error) throw invalid(`cannot run ${cmd[0]}: ${result.error.message}`);
    return result.status ?? 1;
  },
};

export const serviceLogs: Command = {
  name: "service logs",
  synopsis: "[OPTIONS] SERVICE",
  summary: "Fetch the logs of a service's tasks",
  flags: [{ name: "follow", short: "f", kind: "bool", help: "Follow log output" }],
  async run(ctx, args) {
    need(args, 1, "SERVICE", this.name);
    const path = `/v1/services/${encodeURIComponent(args.positionals[0]!)}/logs`;
    await followLogs(ctx, path, true, async () => args.flags.follow !== true);
    return 0;
  },
};

export const networkConnect: Command = {
  name: "network connect",
  synopsis: "[OPTIONS] NETWORK CONTAINER",
  summary: "Connect a standalone task to a network",
  flags: [{ name: "alias", kind: "list", help: "Add network-scoped alias for the task" }],
  async run(ctx, args) {
    need(args, 2, "NETWORK and CONTAINER", this.name);
    const [net, container] = args.positionals as [string, string];
    await ctx.client.call("POST", `/v1/networks/${encodeURIComponent(net)}/connect`, {
      container,
      aliases: args.flags.alias,
    });
    return 0;
  },
};

export const networkDisconnect: Command = {
  name: "network disconnect",
  synopsis: "NETWORK CONTAINER",
  summary: "Disconnect a standalone task from a network",
  flags: [],
  async run(ctx, args) {
    need(args, 2, "NETWORK and CONTAINER", this.name);
    const [net, container] = args.positionals as [string, string];
    await ctx.client.call("POST", `/v1/networks/${encodeURIComponent(net)}/disconnect`, {
      container,
    });
    return 0;
  },
};
