// What a task runs and what it is called: the service's command, or
// swarmnet's built-in responder on the service's target ports.
import { fileURLToPath } from "node:url";
import type { Container, Task } from "../core/model.ts";
import type { NodeView } from "../core/node-view.ts";
import { exposedPorts, RESPONDER_EXPOSE_LABEL } from "../core/ports.ts";
import { responderPorts } from "./responder.ts";

const RESPONDER_MAIN = fileURLToPath(new URL("./responder-main.ts", import.meta.url));
export const STACK_LABEL = "com.docker.stack.namespace";

function serviceOf(view: NodeView, o: Task | Container) {
  return "serviceId" in o ? view.services.find((s) => s.id === o.serviceId) : undefined;
}

/** Docker's task names: `<service>.<slot>.<task id>`, `<service>.<node id>.<task id>` for global tasks. */
export function taskHostname(view: NodeView, o: Task | Container): string {
  const service = serviceOf(view, o);
  if (!service || !("slot" in o)) return "name" in o ? o.name : o.id;
  return `${service.spec.name}.${o.slot > 0 ? o.slot : o.nodeId}.${o.id}`;
}

/** The service's environment for its task's process ("KEY=value" → map). */
export function taskEnv(view: NodeView, o: Task | Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of serviceOf(view, o)?.spec.env ?? []) {
    const eq = e.indexOf("=");
    env[e.slice(0, eq)] = e.slice(eq + 1);
  }
  return env;
}

export function taskCommand(view: NodeView, o: Task | Container): string[] {
  const service = serviceOf(view, o);
  const command = service ? service.spec.command : "command" in o ? o.command : [];
  if (command.length > 0) return command;
  const ports = responderPorts(
    service?.endpoint.ports ?? [],
    exposedPorts(service?.spec.containerLabels[RESPONDER_EXPOSE_LABEL]),
  );
  return [
    process.execPath,
    "--disable-warning=ExperimentalWarning",
    RESPONDER_MAIN,
    "--task",
    taskHostname(view, o),
    "--service",
    service?.spec.name ?? "",
    "--stack",
    service?.spec.labels[STACK_LABEL] ?? "",
    "--node",
    view.node.hostname,
    "--ports",
    ports.map((p) => `${p.port}/${p.protocol}`).join(","),
  ];
}
