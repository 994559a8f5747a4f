import { dockerNode } from "../../core/docker-shape.ts";
import { invalid } from "../../core/errors.ts";
import type { Node } from "../../core/model.ts";
import { VERSION } from "../../version.ts";
import { type Command, FORMAT_FLAGS, need, outputFormat, printRows } from "../context.ts";
import { keyValues } from "../flags.ts";
import { capitalize, eachArg, inspectCommand } from "./each.ts";

type NodeRow = Node & { self: boolean };

export const nodeLs: Command = {
  name: "node ls",
  synopsis: "[OPTIONS]",
  summary: "List nodes in the swarm",
  flags: [...FORMAT_FLAGS, { name: "quiet", short: "q", kind: "bool", help: "Only display IDs" }],
  async run(ctx, args) {
    const fmt = outputFormat(args);
    const nodes = (await ctx.client.call<NodeRow[]>("GET", "/v1/nodes")).sort((a, b) =>
      a.hostname.localeCompare(b.hostname),
    );
    if (args.flags.quiet) {
      for (const n of nodes) ctx.out(n.id);
      return 0;
    }
    const rows = nodes.map((n) => ({
      ID: n.id,
      Self: n.self,
      Hostname: n.hostname,
      Status: capitalize(n.state),
      Availability: capitalize(n.availability),
      ManagerStatus: n.role === "manager" ? (n.leader ? "Leader" : "Reachable") : "",
      EngineVersion: VERSION,
    }));
    printRows(
      ctx,
      fmt,
      [
        [(r) => `${r.ID}${r.Self ? " *" : ""}`, "ID"],
        ["Hostname", "HOSTNAME"],
        ["Status", "STATUS"],
        ["Availability", "AVAILABILITY"],
        ["ManagerStatus", "MANAGER STATUS"],
        ["EngineVersion", "ENGINE VERSION"],
      ],
      rows,
    );
    return 0;
  },
};

export const nodeInspect = inspectCommand({
  noun: "node",
  synopsis: "[OPTIONS] self|NODE [NODE...]",
  summary: "Display detailed information on one or more nodes",
  notFound: (ref) => `Error: No such node: ${ref}`,
  fetch: async (ctx, ref) => {
    const target =
      ref === "self"
        ? (await ctx.client.call<{ swarm: { nodeId: string } }>("GET", "/v1/info")).swarm.nodeId
        : ref;
    return dockerNode(
      await ctx.client.call<Node>("GET", `/v1/nodes/${encodeURIComponent(target)}`),
      VERSION,
    );
  },
});

export const nodeUpdate: Command = {
  name: "node update",
  synopsis: "[OPTIONS] NODE",
  summary: "Update a node's availability, role or labels",
  flags: [
    {
      name: "availability",
      kind: "string",
      help: 'Availability of the node ("active", "pause", "drain")',
    },
    { name: "role", kind: "string", help: 'Role of the node ("worker", "manager")' },
    { name: "label-add", kind: "list", help: "Add or update a node label (key=value)" },
    { name: "label-rm", kind: "list", help: "Remove a node label if exists" },
  ],
  async run(ctx, args) {
    need(args, 1, "NODE", this.name);
    const ref = args.positionals[0]!;
    const node = await ctx.client.call<NodeRow>("GET", `/v1/nodes/${encodeURIComponent(ref)}`);
    const labels = { ...node.labels };
    for (const k of args.flags["label-rm"] as string[]) {
      if (!(k in labels)) throw invalid(`key ${k} doesn't exist in node's labels`);
      delete labels[k];
    }
    Object.assign(labels, keyValues(args.flags["label-add"] as string[], "label"));
    await ctx.client.call("POST", `/v1/nodes/${node.id}/update?version=${node.version}`, {
      availability: args.flags.availability,
      role: args.flags.role,
      labels,
    });
    ctx.out(ref);
    return 0;
  },
};

export const nodeRm: Command = {
  name: "node rm",
  synopsis: "[OPTIONS] NODE [NODE...]",
  summary: "Remove one or more nodes from the swarm",
  flags: [{ name: "force", short: "f", kind: "bool", help: "Force remove a node from the swarm" }],
  async run(ctx, args) {
    need(args, 1, "NODE", this.name);
    return eachArg(ctx, args.positionals, async (ref) => {
      await ctx.client.call(
        "DELETE",
        `/v1/nodes/${encodeURIComponent(ref)}?force=${args.flags.force === true}`,
      );
      ctx.out(ref);
    });
  },
};
