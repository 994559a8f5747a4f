// stack deploy | ls | services | ps | rm: compose files deployed as Docker's
// `docker stack` does it, through the same API as everything else: the files
// are read here (src/compose turns them into network and service requests),
// then networks are created, services created or updated, in that order.
// Everything that can be checked is checked before the first change: a bad
// file, a missing external network or an unknown network reference changes
// nothing.
import { readFileSync } from "node:fs";
import { ComposeError } from "../../compose/errors.ts";
import { formatNotApplied, loadStack, STACK_NAMESPACE_LABEL } from "../../compose/load.ts";
import { invalid } from "../../core/errors.ts";
import { shortId } from "../../core/ids.ts";
import type { Network, Task } from "../../core/model.ts";
import { type Command, type Ctx, FORMAT_FLAGS, need, outputFormat, printRows } from "../context.ts";
import { printServices, type ServiceRow } from "./service.ts";

const STACK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function stackName(name: string | undefined): string {
  if (!name) throw invalid("stack name must not be empty");
  if (!STACK_NAME.test(name) || name.length > 63) {
    throw invalid(
      `invalid stack name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at most 63 characters`,
    );
  }
  return name;
}

const inStack = (stack: string) => (o: { labels: Record<string, string> }) =>
  o.labels[STACK_NAMESPACE_LABEL] === stack;

export const stackDeploy: Command = {
  name: "stack deploy",
  synopsis: "[OPTIONS] STACK",
  summary: "Deploy a new stack or update an existing stack",
  flags: [
    {
      name: "compose-file",
      short: "c",
      kind: "list",
      help: 'Path to a Compose file, or "-" to read from stdin',
    },
    { name: "prune", kind: "bool", help: "Prune services that are no longer referenced" },
    {
      name: "detach",
      short: "d",
      kind: "bool",
      help: "Exit immediately (always: swarmnet does not wait)",
    },
    {
      name: "resolve-image",
      kind: "string",
      help: "Accepted for Docker compatibility; images are documentation in swarmnet",
    },
    {
      name: "with-registry-auth",
      kind: "bool",
      help: "Accepted for Docker compatibility (no registry is used)",
    },
  ],
  async run(ctx, args) {
    need(args, 1, "STACK", this.name);
    if (args.positionals.length > 1)
      throw invalid(`"swarmnet stack deploy" requires exactly 1 argument`);
    const stack = stackName(args.positionals[0]);
    const paths = args.flags["compose-file"] as string[];
    if (paths.length === 0) throw invalid("Please specify a Compose file (with --compose-file)");
    const files = paths.map((file) => {
      try {
        return { file, text: readFileSync(file === "-" ? 0 : file, "utf8") };
      } catch (err) {
        throw invalid(
          `open ${file}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory" : (err as Error).message}`,
        );
      }
    });
    let plan: ReturnType<typeof loadStack>;
    try {
      plan = loadStack({ stack, files, env: process.env as Record<string, string> });
    } catch (err) {
      if (err instanceof ComposeError) throw invalid(err.message);
      throw err;
    }
    for (const w of plan.warnings) ctx.err(w);
    if (plan.notApplied.length > 0) ctx.err(formatNotApplied(plan.notApplied));

    // Check before changing anything.
    const networks = await ctx.client.call<Network[]>("GET", "/v1/networks");
    const byName = new Map(networks.map((n) => [n.name, n]));
    for (const n of plan.networks) {
      const have = byName.get(n.name);
      if (n.external) {
        if (!have || have.scope !== "swarm") {
          throw invalid(
            `network "${n.name}" is declared as external, but could not be found. You need to create a swarm-scoped network before the stack is deployed`,
          );
        }
      } else if (have && !inStack(stack)(have)) {
        throw invalid(
          `network "${n.name}" exists and does not belong to stack ${stack}: remove it or name the stack's network differently`,
        );
      }
    }
    const services = await ctx.client.call<ServiceRow[]>("GET", "/v1/services");
    const current = new Map(
      services
        .filter((s) => inStack(stack)({ labels: s.spec.labels }))
        .map((s) => [s.spec.name, s]),
    );

    for (const n of plan.networks) {
      if (n.external || byName.has(n.name) || !n.create) continue;
      ctx.out(`Creating network ${n.name}`);
      await ctx.client.call("POST", "/v1/networks", n.create);
    }
    for (const s of plan.services) {
      const have = current.get(s.name);
      if (have) {
        ctx.out(`Updating service ${s.name} (id: ${have.id})`);
        await ctx.client.call(
          "POST",
          `/v1/services/${have.id}/update?version=${have.version}`,
          s.spec,
        );
      } else {
        ctx.out(`Creating service ${s.name}`);
        await ctx.client.call("POST", "/v1/services", s.spec);
      }
    }
    if (args.flags.prune === true) {
      const wanted = new Set(plan.services.map((s) => s.name));
      for (const [name, s] of current) {
        if (wanted.has(name)) continue;
        ctx.out(`Removing service ${name}`);
        await ctx.client.call("DELETE", `/v1/services/${s.id}`);
      }
    }
    return 0;
  },
};

export const stackLs: Command = {
  name: "stack ls",
  synopsis: "[OPTIONS]",
  summary: "List stacks",
  flags: [...FORMAT_FLAGS],
  async run(ctx, args) {
    const fmt = outputFormat(args);
    const services = await ctx.client.call<ServiceRow[]>("GET", "/v1/services");
    const counts = new Map<string, number>();
    for (const s of services) {
      const stack = s.spec.labels[STACK_NAMESPACE_LABEL];
      if (stack) counts.set(stack, (counts.get(stack) ?? 0) + 1);
    }
    const rows = [...counts]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([Name, Services]) => ({ Name, Services }));
    printRows(
      ctx,
      fmt,
      [
        ["Name", "NAME"],
        ["Services", "SERVICES"],
      ],
      rows,
    );
    return 0;
  },
};

async function stackServices(ctx: Ctx, stack: string) {
  const services = await ctx.client.call<ServiceRow[]>("GET", "/v1/services");
  return services.filter((s) => inStack(stack)({ labels: s.spec.labels }));
}

/** The stack's services; undefined (said on stderr, Docker's words) when it has none. */
async function servicesOf(ctx: Ctx, stack: string): Promise<ServiceRow[] | undefined> {
  const services = await stackServices(ctx, stack);
  if (services.length > 0) return services;
  ctx.err(`Nothing found in stack: ${stack}`);
  return undefined;
}

export const stackServicesCommand: Command = {
  name: "stack services",
  synopsis: "[OPTIONS] STACK",
  summary: "List the services in the stack",
  flags: [...FORMAT_FLAGS, { name: "quiet", short: "q", kind: "bool", help: "Only display IDs" }],
  async run(ctx, args) {
    need(args, 1, "STACK", this.name);
    const stack = stackName(args.positionals[0]);
    const fmt = outputFormat(args);
    const services = await servicesOf(ctx, stack);
    if (!services) return 1;
    if (args.flags.quiet) {
      for (const s of services) ctx.out(shortId(s.id));
      return 0;
    }
    printServices(ctx, fmt, services);
    return 0;
  },
};

export const stackPs: Command = {
  name: "stack ps",
  synopsis: "[OPTIONS] STACK",
  summary: "List the tasks in the stack",
  flags: [...FORMAT_FLAGS],
  async run(ctx, args) {
    need(args, 1, "STACK", this.name);
    const stack = stackName(args.positionals[0]);
    const fmt = outputFormat(args);
    const services = await servicesOf(ctx, stack);
    if (!services) return 1;
    type TaskRow = Task & { name: string; nodeHostname: string };
    const rows: Record<string, unknown>[] = [];
    for (const s of services) {
      const tasks = await ctx.client.call<TaskRow[]>(
        "GET",
        `/v1/tasks?service=${encodeURIComponent(s.id)}&live=true`,
      );
      for (const t of tasks) {
        rows.push({
          ID: shortId(t.id),
          Name: t.name.replace(/\.[0-9a-z]{25}$/, ""),
          Image: s.spec.image,
          Node: t.nodeHostname,
          DesiredState: t.desiredState,
          CurrentState: t.status.state,
        });
      }
    }
    printRows(
      ctx,
      fmt,
      [
        ["ID", "ID"],
        ["Name", "NAME"],
        ["Image", "IMAGE"],
        ["Node", "NODE"],
        ["DesiredState", "DESIRED STATE"],
        ["CurrentState", "CURRENT STATE"],
      ],
      rows,
    );
    return 0;
  },
};

export const stackRm: Command = {
  name: "stack rm",
  synopsis: "STACK [STACK...]",
  summary: "Remove one or more stacks",
  flags: [],
  async run(ctx, args) {
    need(args, 1, "STACK", this.name);
    let status = 0;
    for (const raw of args.positionals) {
      const stack = stackName(raw);
      const services = await stackServices(ctx, stack);
      const networks = (await ctx.client.call<Network[]>("GET", "/v1/networks")).filter(
        inStack(stack),
      );
      if (services.length === 0 && networks.length === 0) {
        ctx.err(`Nothing found in stack: ${stack}`);
        status = 1;
        continue;
      }
      for (const s of services) {
        ctx.out(`Removing service ${s.spec.name}`);
        await ctx.client.call("DELETE", `/v1/services/${s.id}`);
      }
      for (const n of networks) {
        ctx.out(`Removing network ${n.name}`);
        // The manager waits for the removed services' tasks to leave it.
        await ctx.client.call("DELETE", `/v1/networks/${n.id}`);
      }
    }
    return status;
  },
};

export const STACK_COMMANDS = [stackDeploy, stackLs, stackServicesCommand, stackPs, stackRm];
