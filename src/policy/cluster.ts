// The cluster as policies see it: every task meant to run and every
// standalone container becomes a Workload, every stack a Namespace. Pure: the
// caller hands in the manager's lists, so `reach`, `explain` and apply's
// warnings all judge the same picture.
import type { Container, Network, Service, Task } from "../core/model.ts";
import {
  DEFAULT_NAMESPACE,
  type Namespace,
  namespaceLabels,
  STACK_LABEL,
  type Workload,
  workloadLabels,
} from "./model.ts";

export interface ClusterInput {
  services: Service[];
  tasks: Task[];
  containers: Container[];
  networks: Network[];
}

/** A workload and every name `explain` accepts for it. */
export interface ClusterWorkload {
  workload: Workload;
  /** The id, task id, full task name, `service.slot`, the service name (its
   * first task), container name and id. */
  names: string[];
}

export interface ClusterModel {
  /** Sorted by id. */
  workloads: ClusterWorkload[];
  namespaces: Map<string, Namespace>;
}

export function clusterModel(input: ClusterInput): ClusterModel {
  // The ingress network joins every task publishing a port; it carries the
  // routing mesh, not east-west traffic, so it makes no two workloads peers.
  const ingress = new Set(input.networks.filter((n) => n.ingress).map((n) => n.id));
  const addresses = (attachments: Task["networks"]): Workload["addresses"] =>
    attachments
      .filter((a) => !ingress.has(a.networkId))
      .flatMap((a) => a.addresses.map((cidr) => ({ networkId: a.networkId, address: bare(cidr) })));

  const out: ClusterWorkload[] = [];
  const stacks = new Set<string>([DEFAULT_NAMESPACE]);
  for (const service of input.services) {
    const stack = service.spec.labels[STACK_LABEL] || DEFAULT_NAMESPACE;
    stacks.add(stack);
    const short = shortName(service.spec.name, stack);
    const tasks = input.tasks
      .filter((t) => t.serviceId === service.id && t.desiredState === "running")
      .sort((a, b) => a.slot - b.slot || a.nodeId.localeCompare(b.nodeId));
    for (const [i, task] of tasks.entries()) {
      // One task: the service's name alone reads best; several: a suffix per task.
      const suffix =
        tasks.length === 1 ? "" : task.slot > 0 ? `.${task.slot}` : `.${task.nodeId.slice(0, 12)}`;
      const slotName =
        task.slot > 0 ? `${service.spec.name}.${task.slot}` : `${service.spec.name}.${task.nodeId}`;
      const names = [`${stack}/${short}${suffix}`, task.id, `${slotName}.${task.id}`, slotName];
      if (i === 0) names.push(service.spec.name, `${stack}/${short}`);
      out.push({
        workload: {
          id: names[0]!,
          namespace: stack,
          labels: workloadLabels(
            { ...service.spec.labels, ...service.spec.containerLabels },
            stack,
          ),
          addresses: addresses(task.networks),
        },
        names,
      });
    }
  }
  for (const c of input.containers) {
    if (c.desiredState !== "running") continue;
    const stack = c.labels[STACK_LABEL] || DEFAULT_NAMESPACE;
    stacks.add(stack);
    const id = `${stack}/${shortName(c.name, stack)}`;
    out.push({
      workload: {
        id,
        namespace: stack,
        labels: workloadLabels(c.labels, stack),
        addresses: addresses(c.networks),
      },
      names: [id, c.id, c.name],
    });
  }
  out.sort((a, b) => (a.workload.id < b.workload.id ? -1 : a.workload.id > b.workload.id ? 1 : 0));
  const namespaces = new Map(
    [...stacks].sort().map((s) => [s, { name: s, labels: namespaceLabels(s) }]),
  );
  return { workloads: out, namespaces };
}

/** The workload `ref` names: its id first, then any other name; undefined when none. */
export function findWorkload(model: ClusterModel, ref: string): Workload | undefined {
  const byId = model.workloads.find((w) => w.workload.id === ref);
  return (byId ?? model.workloads.find((w) => w.names.includes(ref)))?.workload;
}

/** "x_web" in stack x is "web", as `docker stack deploy` names services. */
function shortName(name: string, stack: string): string {
  return name.startsWith(`${stack}_`) ? name.slice(stack.length + 1) : name;
}

/** "10.0.1.5/24" → "10.0.1.5". */
function bare(cidr: string): string {
  const slash = cidr.indexOf("/");
  return slash < 0 ? cidr : cidr.slice(0, slash);
}
