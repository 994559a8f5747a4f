import { dockerNetwork } from "../../core/docker-shape.ts";
// network create | ls | inspect | rm
import { invalid } from "../../core/errors.ts";
import { shortId } from "../../core/ids.ts";
import type { Network } from "../../core/model.ts";
import { ApiError } from "../client.ts";
import { type Command, FORMAT_FLAGS, need, outputFormat, printRows } from "../context.ts";
import { keyValues } from "../flags.ts";
import { eachArg, inspectCommand } from "./each.ts";

export const networkCreate: Command = {
  name: "network create",
  synopsis: "[OPTIONS] NETWORK",
  summary: "Create a network",
  flags: [
    {
      name: "driver",
      short: "d",
      kind: "string",
      help: "Driver to manage the Network (overlay, bridge, macvlan)",
    },
    { name: "attachable", kind: "bool", help: "Enable manual container attachment" },
    { name: "internal", kind: "bool", help: "Restrict external access to the network" },
    { name: "ingress", kind: "bool", help: "Create swarm routing-mesh network" },
    {
      name: "subnet",
      kind: "list",
      help: "Subnet in CIDR format that represents a network segment",
    },
    { name: "gateway", kind: "list", help: "IPv4 Gateway for the master subnet" },
    { name: "ip-range", kind: "list", help: "Allocate container ip from a sub-range" },
    {
      name: "aux-address",
      kind: "list",
      help: "Auxiliary IPv4 addresses used by Network driver (k=IP)",
    },
    { name: "opt", short: "o", kind: "list", help: "Set driver specific options" },
    { name: "label", kind: "list", help: "Set metadata on a network" },
    { name: "scope", kind: "string", help: "Control the network's scope (swarm for overlay)" },
  ],
  async run(ctx, args) {
    need(args, 1, "NETWORK", this.name);
    if (args.positionals.length > 1)
      throw invalid(`"swarmnet network create" requires exactly 1 argument`);
    const f = args.flags;
    const subnets = f.subnet as string[];
    const gateways = f.gateway as string[];
    const ranges = f["ip-range"] as string[];
    if (subnets.length > 1) throw invalid("swarmnet supports one IPv4 subnet per network");
    if (gateways.length > subnets.length)
      throw invalid("cannot have more gateways than subnets (use --subnet)");
    if (ranges.length > subnets.length)
      throw invalid("cannot have more ip ranges than subnets (use --subnet)");
    const aux = keyValues(f["aux-address"] as string[], "aux-address");
    if (Object.keys(aux).length && !subnets.length)
      throw invalid("no matching subnet for aux-address (use --subnet)");
    if (f.scope !== undefined && f.scope !== "swarm" && f.scope !== "local")
      throw invalid(`invalid scope "${String(f.scope)}"`);
    const net = await ctx.client.call<Network>("POST", "/v1/networks", {
      name: args.positionals[0],
      driver: f.driver,
      attachable: f.attachable === true,
      internal: f.internal === true,
      ingress: f.ingress === true,
      ipam: subnets.length
        ? [{ subnet: subnets[0], gateway: gateways[0], ipRange: ranges[0], auxAddresses: aux }]
        : [],
      options: keyValues(f.opt as string[], "option"),
      labels: keyValues(f.label as string[], "label"),
    });
    ctx.out(net.id);
    return 0;
  },
};

export const networkLs: Command = {
  name: "network ls",
  synopsis: "[OPTIONS]",
  summary: "List networks",
  flags: [
    ...FORMAT_FLAGS,
    { name: "quiet", short: "q", kind: "bool", help: "Only display network IDs" },
  ],
  async run(ctx, args) {
    const fmt = outputFormat(args);
    const nets = await ctx.client.call<Network[]>("GET", "/v1/networks");
    if (args.flags.quiet) {
      for (const n of nets) ctx.out(shortId(n.id));
      return 0;
    }
    const rows = nets.map((n) => ({
      ID: shortId(n.id),
      Name: n.name,
      Driver: n.driver,
      Scope: n.scope,
      Subnet: n.ipam[0]?.subnet ?? "",
      Attachable: n.attachable,
      Internal: n.internal,
      Ingress: n.ingress,
      Labels: n.labels,
    }));
    printRows(
      ctx,
      fmt,
      [
        ["ID", "NETWORK ID"],
        ["Name", "NAME"],
        ["Driver", "DRIVER"],
        ["Scope", "SCOPE"],
      ],
      rows,
    );
    return 0;
  },
};

export const networkInspect = inspectCommand({
  noun: "network",
  synopsis: "[OPTIONS] NETWORK [NETWORK...]",
  summary: "Display detailed information on one or more networks",
  notFound: (ref) => `Error: No such network: ${ref}`,
  fetch: async (ctx, ref) =>
    dockerNetwork(await ctx.client.call<Network>("GET", `/v1/networks/${encodeURIComponent(ref)}`)),
});

export const networkRm: Command = {
  name: "network rm",
  synopsis: "NETWORK [NETWORK...]",
  summary: "Remove one or more networks",
  flags: [
    { name: "force", short: "f", kind: "bool", help: "Do not error if the network does not exist" },
  ],
  async run(ctx, args) {
    need(args, 1, "NETWORK", this.name);
    return eachArg(ctx, args.positionals, async (ref) => {
      try {
        await ctx.client.call("DELETE", `/v1/networks/${encodeURIComponent(ref)}`);
        ctx.out(ref);
      } catch (err) {
        if (args.flags.force && err instanceof ApiError && err.status === 404) return;
        throw err;
      }
    });
  },
};
