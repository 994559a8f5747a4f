import type { Node } from "../../core/model.ts";
import { VERSION } from "../../version.ts";
import {
  type Command,
  FORMAT_FLAGS,
  need,
  printInspect,
  printJsonLines,
  wantsJson,
} from "../context.ts";
import { table } from "../table.ts";
import { eachArg } from "./network.ts";

type NodeRow = Node & { self: boolean };
const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

export const nodeLs: Command = {
  name: "node ls",
  synopsis: "[OPTIONS]",
  summary: "List nodes in the swarm",
  flags: [...FORMAT_FLAGS, { name: "quiet", short: "q", kind: "bool", help: "Only display IDs" }],
  async run(ctx, args) {
    const json = wantsJson(args);
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
      Status: cap(n.state),
      Availability: cap(n.availability),
      ManagerStatus: n.role === "manager" ? (n.leader ? "Leader" : "Reachable") : "",
      EngineVersion: VERSION,
    }));
    if (json) printJsonLines(ctx, rows);
    else {
      ctx.out(
        table(
          ["ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER STATUS", "ENGINE VERSION"],
          rows.map((r) => [
            `${r.ID}${r.Self ? " *" : ""}`,
            r.Hostname,
            r.Status,
            r.Availability,
            r.ManagerStatus,
            r.EngineVersion,
          ]),
        ),
      );
    }
    return 0;
  },
};

export const nodeInspect: Command = {
  name: "node inspect",
  synopsis: "[OPTIONS] self|NODE [NODE...]",
  summary: "Display detailed information on one or more nodes",
  flags: FORMAT_FLAGS,
  async run(ctx, args) {
    need(args, 1, "NODE", this.name);
    wantsJson(args);
    const found: unknown[] = [];
    const code = await eachArg(
      ctx,
      args.positionals,
      async (ref) => {
        let target = ref;
        if (ref === "self")
          target = (await ctx.client.call<{ swarm: { nodeId: string } }>("GET", "/v1/info")).swarm
            .nodeId;
        found.push(await ctx.client.call("GET", `/v1/nodes/${encodeURIComponent(target)}`));
      },
      (ref) => `Error: No such node: ${ref}`,
    );
    printInspect(ctx, found);
    return code;
  },
};
