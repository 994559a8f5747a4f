// Waits for a service to converge, showing progress the way
// `docker service create` does. It never hangs: it ends when every task
// runs, or as soon as no further progress is possible (tasks pending for
// lack of a suitable node, or assigned to nodes with no agent connected).
import { setTimeout as sleep } from "node:timers/promises";
import type { Ctx } from "../context.ts";

interface TaskRow {
  slot: number;
  nodeId: string;
  nodeHostname: string;
  desiredState: string;
  status: { state: string; message: string };
  agentConnected: boolean;
}
interface ServiceRow {
  spec: { name: string };
  serviceStatus: { desiredTasks: number };
}

const POLL_MS = 200;
const BAR = "[==================================================>]";

export async function waitForConvergence(
  ctx: Ctx,
  serviceId: string,
  quiet: boolean,
): Promise<number> {
  let lastShown = "";
  const deadline = Date.now() + 10 * 60_000;
  while (Date.now() < deadline) {
    const service = await ctx.client.call<ServiceRow>("GET", `/v1/services/${serviceId}`);
    const tasks = (
      await ctx.client.call<TaskRow[]>("GET", `/v1/tasks?service=${serviceId}`)
    ).filter((t) => t.desiredState === "running");
    const desired = service.serviceStatus.desiredTasks;
    const running = tasks.filter((t) => t.status.state === "running").length;
    const lines = [`overall progress: ${running} out of ${desired} tasks`];
    for (const t of tasks) {
      const label = t.slot > 0 ? `${t.slot}/${desired}` : t.nodeHostname || t.nodeId.slice(0, 12);
      lines.push(
        `${label}: ${t.status.state.padEnd(9)} ${t.status.state === "running" ? BAR : ""}`.trimEnd(),
      );
    }
    const text = lines.join("\n");
    if (!quiet && text !== lastShown) {
      // On a terminal, redraw the block in place as Docker does; in logs, append each new state.
      const redraw = ctx.isTty && lastShown ? `\x1b[${lastShown.split("\n").length}A\x1b[J` : "";
      ctx.err(redraw + text);
      lastShown = text;
    }
    if (running === desired && tasks.length === desired) {
      if (!quiet) ctx.err("verify: Service converged");
      return 0;
    }
    const waiting = tasks.filter((t) => t.status.state !== "running");
    const pending = waiting.filter((t) => t.status.state === "pending");
    const orphaned = waiting.filter((t) => t.nodeId && !t.agentConnected);
    if (waiting.length > 0 && pending.length + orphaned.length === waiting.length) {
      const reasons: string[] = [];
      if (pending.length) reasons.push(`${pending.length} pending: ${pending[0]!.status.message}`);
      if (orphaned.length) {
        const nodes = [...new Set(orphaned.map((t) => t.nodeHostname || t.nodeId))].join(", ");
        reasons.push(
          `${orphaned.length} assigned to ${nodes}, where no agent is connected to start them`,
        );
      }
      ctx.err(
        `service ${service.spec.name} cannot converge now (${reasons.join("; ")}); it will when that changes. Use --detach to return without waiting.`,
      );
      return 0;
    }
    await sleep(POLL_MS);
  }
  ctx.err(
    "gave up waiting for the service to converge after 10 minutes; it goes on in the background",
  );
  return 0;
}
