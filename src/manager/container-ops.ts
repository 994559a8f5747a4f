// Standalone tasks (`swarmnet run`), Docker's containers on an attachable
// swarm network: placed on the manager's own node (as `docker run` runs on the
// daemon it talks to), given an address on each network, run by the agent.
import { conflict, invalid, precondition } from "../core/errors.ts";
import { newId } from "../core/ids.ts";
import type { Container } from "../core/model.ts";
import { validateLabels } from "../core/network-spec.ts";
import type { Allocator } from "./allocator.ts";
import type { Manager } from "./manager.ts";
import { resolve, resolveNetwork } from "./resolve.ts";
import type { Tx } from "./state.ts";

const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export interface ContainerRequest {
  name?: unknown;
  networks?: unknown;
  labels?: unknown;
  command?: unknown;
  /** Docker's --network-alias: names on the first network. */
  aliases?: unknown;
}

/** A network a standalone task may join: swarm-scoped and attachable (Docker's rule). */
function checkAttachable(tx: Tx, ref: string) {
  const net = resolveNetwork(tx.state, ref);
  if (net.scope !== "swarm" || !net.attachable || net.ingress) {
    throw invalid(
      `Could not attach to network ${ref}: rpc error: code = PermissionDenied desc = network ${ref} not manually attachable`,
    );
  }
  return net;
}

function attach(
  tx: Tx,
  alloc: Allocator,
  c: Container,
  networkRef: string,
  aliases: string[],
): Container {
  const net = checkAttachable(tx, networkRef);
  if (c.networks.some((n) => n.networkId === net.id)) {
    throw conflict(`endpoint with name ${c.name} already exists in network ${net.name}`);
  }
  const address = alloc.allocateAddress(tx, net.id);
  return { ...c, networks: [...c.networks, { networkId: net.id, addresses: [address], aliases }] };
}

export async function createContainer(m: Manager, req: ContainerRequest): Promise<Container> {
  return m.transact((tx, alloc) => {
    if (typeof req !== "object" || req === null)
      throw invalid("the request body must be a JSON object");
    const name = req.name;
    if (typeof name !== "string" || !CONTAINER_NAME.test(name)) {
      throw invalid(
        `Invalid container name (${String(name)}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
      );
    }
    const taken = tx.state.list("containers").find((c) => c.name === name);
    if (taken) {
      throw conflict(
        `Conflict. The container name "/${name}" is already in use by container "${taken.id}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    }
    const networks = req.networks;
    if (
      !Array.isArray(networks) ||
      networks.length === 0 ||
      networks.some((n) => typeof n !== "string")
    ) {
      throw invalid("a standalone task needs at least one attachable network: --network NET");
    }
    const command = req.command ?? [];
    if (!Array.isArray(command) || command.some((c) => typeof c !== "string"))
      throw invalid("command must be a list of strings");
    let c: Container = {
      id: newId(),
      version: 0,
      createdAt: tx.now,
      updatedAt: tx.now,
      name,
      nodeId: m.selfNodeId,
      labels: validateLabels(req.labels),
      command: command as string[],
      networks: [],
      desiredState: "running",
      status: {
        state: "assigned",
        message: "assigned to the manager's node",
        err: "",
        timestamp: tx.now,
      },
    };
    const aliases = req.aliases ?? [];
    if (
      !Array.isArray(aliases) ||
      aliases.some((a) => typeof a !== "string" || !CONTAINER_NAME.test(a))
    ) {
      throw invalid(
        `invalid network alias in ${JSON.stringify(aliases)}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
      );
    }
    (networks as string[]).forEach((ref, i) => {
      c = attach(tx, alloc, c, ref, i === 0 ? (aliases as string[]) : []);
    });
    return tx.put("containers", c);
  });
}

/** Asks the agent to stop it; it is deleted (addresses freed) when the agent reports it gone. */
export async function removeContainer(m: Manager, ref: string, force: boolean): Promise<void> {
  await m.transact((tx, alloc) => {
    const c = resolve(tx.state, "containers", ref);
    const stopped = ["complete", "failed", "shutdown", "rejected", "assigned"].includes(
      c.status.state,
    );
    if (!stopped && !force) {
      throw precondition(
        `You cannot remove a running container ${c.id}. Stop the container before attempting removal or force remove`,
      );
    }
    if (stopped) deleteContainer(tx, alloc, c);
    else tx.put("containers", { ...c, desiredState: "remove" });
  });
}

export function deleteContainer(tx: Tx, alloc: Allocator, c: Container): void {
  for (const att of c.networks)
    for (const addr of att.addresses) alloc.releaseAddress(tx, att.networkId, addr);
  tx.delete("containers", c.id);
}

export async function connectContainer(
  m: Manager,
  networkRef: string,
  ref: string,
  aliases: string[] = [],
): Promise<Container> {
  return m.transact((tx, alloc) =>
    tx.put(
      "containers",
      attach(tx, alloc, resolve(tx.state, "containers", ref), networkRef, aliases),
    ),
  );
}

export async function disconnectContainer(
  m: Manager,
  networkRef: string,
  ref: string,
): Promise<Container> {
  return m.transact((tx, alloc) => {
    const c = resolve(tx.state, "containers", ref);
    const net = resolveNetwork(tx.state, networkRef);
    const att = c.networks.find((n) => n.networkId === net.id);
    if (!att) throw invalid(`container ${c.name} is not connected to network ${net.name}`);
    for (const addr of att.addresses) alloc.releaseAddress(tx, net.id, addr);
    return tx.put("containers", { ...c, networks: c.networks.filter((n) => n !== att) });
  });
}
