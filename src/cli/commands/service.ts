import { dockerService } from "../../core/docker-shape.ts";
// service create | ls | ps | inspect | scale | update | rm
import { invalid } from "../../core/errors.ts";
import { shortId } from "../../core/ids.ts";
import type { PortConfig, Service, ServiceSpec } from "../../core/model.ts";
import { formatPort, parsePortFlag } from "../../core/ports.ts";
import {
  type Command,
  type Ctx,
  FORMAT_FLAGS,
  need,
  type OutputFormat,
  outputFormat,
  printRows,
} from "../context.ts";
import { type FlagSpec, keyValues, type Parsed } from "../flags.ts";
import { ago } from "../table.ts";
import { capitalize, eachArg, inspectCommand } from "./each.ts";
import { waitForConvergence } from "./progress.ts";

export type ServiceRow = Service & {
  serviceStatus: { runningTasks: number; desiredTasks: number };
};
type NetworkRef = { target: string; aliases: string[] };

const WAIT_FLAGS: FlagSpec[] = [
  {
    name: "detach",
    short: "d",
    kind: "bool",
    help: "Exit immediately instead of waiting for the service to converge",
  },
  { name: "quiet", short: "q", kind: "bool", help: "Suppress progress output" },
];

/** `--network ov1` or the long form `--network name=ov1,alias=web`. */
export function parseNetworkFlag(text: string): NetworkRef {
  if (!text.includes("=")) return { target: text, aliases: [] };
  const ref: NetworkRef = { target: "", aliases: [] };
  for (const field of text.split(",")) {
    const [key = "", value = ""] = field.split("=", 2);
    if (key === "name" || key === "target") ref.target = value;
    else if (key === "alias") ref.aliases.push(value);
    else throw invalid(`invalid field key ${key} in --network ${text} (expected name, alias)`);
  }
  if (!ref.target) throw invalid(`invalid --network ${text}: missing name`);
  return ref;
}

function parseReplicas(text: string | number, service?: string): number {
  const s = String(text);
  if (!/^\d+$/.test(s)) {
    throw invalid(
      `invalid replicas value ${s}${service ? ` for service ${service}` : ""}: must be a non-negative integer`,
    );
  }
  return Number(s);
}

export const serviceCreate: Command = {
  name: "service create",
  synopsis: "[OPTIONS] [--] [COMMAND] [ARG...]",
  summary: "Create a new service",
  interspersed: false,
  flags: [
    { name: "name", kind: "string", help: "Service name" },
    { name: "replicas", kind: "string", help: "Number of tasks (default 1)" },
    { name: "mode", kind: "string", help: 'Service mode ("replicated" or "global")' },
    { name: "network", kind: "list", help: "Network attachments" },
    { name: "label", short: "l", kind: "list", help: "Service labels" },
    { name: "container-label", kind: "list", help: "Task labels" },
    { name: "env", short: "e", kind: "list", help: "Set environment variables (KEY=value)" },
    { name: "publish", short: "p", kind: "list", help: "Publish a port as a node port" },
    { name: "endpoint-mode", kind: "string", help: "Endpoint mode (vip or dnsrr) (default vip)" },
    { name: "constraint", kind: "list", help: "Placement constraints" },
    { name: "image", kind: "string", help: "Image name, kept as documentation" },
    ...WAIT_FLAGS,
  ],
  async run(ctx, args) {
    const f = args.flags;
    const mode = (f.mode as string | undefined) ?? "replicated";
    if (mode !== "replicated" && mode !== "global")
      throw invalid(`invalid mode "${mode}": must be replicated or global`);
    if (mode === "global" && f.replicas !== undefined)
      throw invalid("replicas can only be used with replicated mode");
    const spec = {
      name: f.name ?? "",
      labels: keyValues(f.label as string[], "label"),
      containerLabels: keyValues(f["container-label"] as string[], "container label"),
      image: (f.image as string | undefined) ?? "",
      command: args.positionals,
      env: f.env as string[],
      mode:
        mode === "global"
          ? { global: {} }
          : { replicated: { replicas: parseReplicas((f.replicas as string | undefined) ?? "1") } },
      networks: (f.network as string[]).map(parseNetworkFlag),
      endpoint: {
        mode: (f["endpoint-mode"] as string | undefined) ?? "vip",
        ports: (f.publish as string[]).map(parsePortFlag),
      },
      placement: { constraints: f.constraint as string[] },
    };
    const service = await ctx.client.call<ServiceRow>("POST", "/v1/services", spec);
    ctx.out(service.id);
    if (f.detach) return 0;
    return waitForConvergence(ctx, service.id, f.quiet === true);
  },
};

function modeText(s: Service): string {
  return "replicated" in s.spec.mode ? "replicated" : "global";
}

export const serviceLs: Command = {
  name: "service ls",
  synopsis: "[OPTIONS]",
  summary: "List services",
  flags: [...FORMAT_FLAGS, { name: "quiet", short: "q", kind: "bool", help: "Only display IDs" }],
  async run(ctx, args) {
    const fmt = outputFormat(args);
    const services = await ctx.client.call<ServiceRow[]>("GET", "/v1/services");
    if (args.flags.quiet) {
      for (const s of services) ctx.out(shortId(s.id));
      return 0;
    }
    printServices(ctx, fmt, services);
    return 0;
  },
};

/** The `service ls` table (also `stack services`). */
export function printServices(ctx: Ctx, fmt: OutputFormat, services: ServiceRow[]): void {
  const rows = services.map((s) => ({
    ID: shortId(s.id),
    Name: s.spec.name,
    Mode: modeText(s),
    Replicas: `${s.serviceStatus.runningTasks}/${s.serviceStatus.desiredTasks}`,
    Image: s.spec.image,
    Ports: s.endpoint.ports.map(formatPort).join(", "),
  }));
  printRows(
    ctx,
    fmt,
    [
      ["ID", "ID"],
      ["Name", "NAME"],
      ["Mode", "MODE"],
      ["Replicas", "REPLICAS"],
      ["Image", "IMAGE"],
      ["Ports", "PORTS"],
    ],
    rows,
  );
}

interface TaskRow {
  id: string;
  name: string;
  slot: number;
  nodeHostname: string;
  desiredState: string;
  status: { state: string; message: string; err: string; timestamp: string };
  networks: { networkId: string; addresses: string[] }[];
}

export const servicePs: Command = {
  name: "service ps",
  synopsis: "[OPTIONS] SERVICE [SERVICE...]",
  summary: "List the tasks of one or more services",
  flags: [
    ...FORMAT_FLAGS,
    { name: "quiet", short: "q", kind: "bool", help: "Only display task IDs" },
    { name: "no-trunc", kind: "bool", help: "Do not truncate output" },
  ],
  async run(ctx, args) {
    need(args, 1, "SERVICE", this.name);
    const fmt = outputFormat(args);
    const id = args.flags["no-trunc"] ? (s: string) => s : shortId;
    const tasks: TaskRow[] = [];
    const code = await eachArg(
      ctx,
      args.positionals,
      async (ref) => {
        tasks.push(
          ...(await ctx.client.call<TaskRow[]>(
            "GET",
            `/v1/tasks?service=${encodeURIComponent(ref)}`,
          )),
        );
      },
      (ref) => `no such service: ${ref}`,
    );
    if (args.flags.quiet) {
      for (const t of tasks) ctx.out(id(t.id));
      return code;
    }
    const rows = tasks.map((t) => ({
      ID: id(t.id),
      Name: t.name.replace(/\.[0-9a-z]{25}$/, ""),
      Node: t.nodeHostname,
      DesiredState: capitalize(t.desiredState),
      CurrentState: `${capitalize(t.status.state)} ${ago(t.status.timestamp)}`,
      Error: t.status.err || (t.status.state === "pending" ? `"${t.status.message}"` : ""),
      Addresses: t.networks.flatMap((n) => n.addresses),
    }));
    printRows(
      ctx,
      fmt,
      [
        ["ID", "ID"],
        ["Name", "NAME"],
        ["Node", "NODE"],
        ["DesiredState", "DESIRED STATE"],
        ["CurrentState", "CURRENT STATE"],
        ["Error", "ERROR"],
      ],
      rows,
    );
    return code;
  },
};

export const serviceInspect = inspectCommand({
  noun: "service",
  synopsis: "[OPTIONS] SERVICE [SERVICE...]",
  summary: "Display detailed information on one or more services",
  notFound: (ref) => `Error: no such service: ${ref}`,
  fetch: async (ctx, ref) => {
    const s = await ctx.client.call<ServiceRow>("GET", `/v1/services/${encodeURIComponent(ref)}`);
    return dockerService(s, s.serviceStatus);
  },
});

export const serviceRm: Command = {
  name: "service rm",
  synopsis: "SERVICE [SERVICE...]",
  summary: "Remove one or more services",
  flags: [],
  async run(ctx, args) {
    need(args, 1, "SERVICE", this.name);
    return eachArg(ctx, args.positionals, async (ref) => {
      await ctx.client.call("DELETE", `/v1/services/${encodeURIComponent(ref)}`);
      ctx.out(ref);
    });
  },
};

/** Reads the service, lets `change` edit its spec, and writes it back guarded by the version read. */
async function updateSpec(
  ctx: Ctx,
  ref: string,
  change: (spec: ServiceSpec) => void,
): Promise<ServiceRow> {
  const current = await ctx.client.call<ServiceRow>(
    "GET",
    `/v1/services/${encodeURIComponent(ref)}`,
  );
  const spec = structuredClone(current.spec);
  change(spec);
  return ctx.client.call<ServiceRow>(
    "POST",
    `/v1/services/${current.id}/update?version=${current.version}`,
    spec,
  );
}

export const serviceScale: Command = {
  name: "service scale",
  synopsis: "SERVICE=REPLICAS [SERVICE=REPLICAS...]",
  summary: "Scale one or multiple replicated services",
  flags: WAIT_FLAGS,
  async run(ctx, args) {
    need(args, 1, "SERVICE=REPLICAS", this.name);
    const pairs = args.positionals.map((p) => {
      const eq = p.indexOf("=");
      if (eq <= 0)
        throw invalid(
          `invalid scale specifier '${p}'.\nSee 'swarmnet service scale --help'.`.split("\n")[0]!,
        );
      return { ref: p.slice(0, eq), replicas: parseReplicas(p.slice(eq + 1), p.slice(0, eq)) };
    });
    const scaled: string[] = [];
    const code = await eachArg(
      ctx,
      pairs.map((p) => p.ref),
      async (ref) => {
        const replicas = pairs.find((p) => p.ref === ref)!.replicas;
        const updated = await updateSpec(ctx, ref, (spec) => {
          if (!("replicated" in spec.mode))
            throw invalid(`scale can only be used with replicated or replicated-job mode`);
          spec.mode = { replicated: { replicas } };
        });
        ctx.out(`${ref} scaled to ${replicas}`);
        scaled.push(updated.id);
      },
    );
    if (!args.flags.detach)
      for (const id of scaled) await waitForConvergence(ctx, id, args.flags.quiet === true);
    return code;
  },
};

function removeWhere<T>(list: T[], pred: (x: T) => boolean): T[] {
  return list.filter((x) => !pred(x));
}

export const serviceUpdate: Command = {
  name: "service update",
  synopsis: "[OPTIONS] SERVICE",
  summary: "Update a service",
  flags: [
    { name: "replicas", kind: "string", help: "Number of tasks" },
    { name: "label-add", kind: "list", help: "Add or update a service label" },
    { name: "label-rm", kind: "list", help: "Remove a label by its key" },
    { name: "container-label-add", kind: "list", help: "Add or update a task label" },
    { name: "container-label-rm", kind: "list", help: "Remove a task label by its key" },
    { name: "publish-add", kind: "list", help: "Add or update a published port" },
    { name: "publish-rm", kind: "list", help: "Remove a published port by its target port" },
    { name: "network-add", kind: "list", help: "Add a network" },
    { name: "network-rm", kind: "list", help: "Remove a network" },
    { name: "constraint-add", kind: "list", help: "Add or update a placement constraint" },
    { name: "constraint-rm", kind: "list", help: "Remove a constraint" },
    { name: "endpoint-mode", kind: "string", help: "Endpoint mode (vip or dnsrr)" },
    { name: "image", kind: "string", help: "Image name, kept as documentation" },
    {
      name: "args",
      kind: "string",
      help: "Service command args (replaces the command, split on spaces)",
    },
    ...WAIT_FLAGS,
  ],
  async run(ctx, args: Parsed) {
    need(args, 1, "SERVICE", this.name);
    if (args.positionals.length > 1)
      throw invalid(`"swarmnet service update" requires exactly 1 argument`);
    const f = args.flags;
    const replicas = f.replicas === undefined ? undefined : parseReplicas(f.replicas as string);
    const publishAdd = (f["publish-add"] as string[]).map(parsePortFlag);
    const publishRm = (f["publish-rm"] as string[]).map((p) =>
      parsePortFlag(p.includes(":") || p.includes("=") ? p : `${p}`),
    );
    const networkRm: string[] = [];
    for (const ref of f["network-rm"] as string[]) {
      networkRm.push(
        (await ctx.client.call<{ id: string }>("GET", `/v1/networks/${encodeURIComponent(ref)}`))
          .id,
      );
    }
    const updated = await updateSpec(ctx, args.positionals[0]!, (spec) => {
      if (replicas !== undefined) {
        if (!("replicated" in spec.mode))
          throw invalid("replicas can only be used with replicated mode");
        spec.mode = { replicated: { replicas } };
      }
      for (const k of f["label-rm"] as string[]) delete spec.labels[k];
      Object.assign(spec.labels, keyValues(f["label-add"] as string[], "label"));
      for (const k of f["container-label-rm"] as string[]) delete spec.containerLabels[k];
      Object.assign(
        spec.containerLabels,
        keyValues(f["container-label-add"] as string[], "container label"),
      );
      let ports: PortConfig[] = spec.endpoint.ports;
      for (const rm of publishRm)
        ports = removeWhere(
          ports,
          (p) => p.targetPort === rm.targetPort && p.protocol === rm.protocol,
        );
      for (const add of publishAdd) {
        ports = removeWhere(
          ports,
          (p) => p.targetPort === add.targetPort && p.protocol === add.protocol,
        );
        ports.push(add);
      }
      spec.endpoint.ports = ports;
      for (const id of networkRm) {
        if (!spec.networks.some((n) => n.target === id))
          throw invalid(`service is not attached to network ${id}`);
        spec.networks = spec.networks.filter((n) => n.target !== id);
      }
      for (const add of (f["network-add"] as string[]).map(parseNetworkFlag))
        spec.networks.push(add);
      const cRm = new Set(f["constraint-rm"] as string[]);
      spec.placement.constraints = spec.placement.constraints.filter((c) => !cRm.has(c));
      spec.placement.constraints.push(...(f["constraint-add"] as string[]));
      if (f["endpoint-mode"] !== undefined)
        spec.endpoint.mode = f["endpoint-mode"] as "vip" | "dnsrr";
      if (f.image !== undefined) spec.image = f.image as string;
      if (f.args !== undefined) spec.command = (f.args as string).split(/\s+/).filter(Boolean);
    });
    ctx.out(updated.spec.name);
    if (f.detach) return 0;
    return waitForConvergence(ctx, updated.id, f.quiet === true);
  },
};
