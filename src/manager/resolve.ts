// Finds objects the way Docker's CLI does: exact id, then exact name, then a
// unique id prefix. Unknown references get Docker's "not found" wording.
import { invalid, notFound } from "../core/errors.ts";
import type { Network } from "../core/model.ts";
import type { ClusterState, Kind, Kinds } from "./state.ts";

const NOUN: Record<Kind, string> = {
  cluster: "cluster",
  nodes: "node",
  networks: "network",
  services: "service",
  tasks: "task",
  containers: "container",
  policies: "policy",
};

function nameOf(kind: Kind, obj: Kinds[Kind]): string | undefined {
  if (kind === "services") return (obj as Kinds["services"]).spec.name;
  if (kind === "nodes") return (obj as Kinds["nodes"]).hostname;
  if (kind === "networks" || kind === "containers") return (obj as Kinds["networks"]).name;
  return undefined;
}

export function find<K extends Kind>(
  state: ClusterState,
  kind: K,
  ref: string,
): Kinds[K] | undefined {
  if (typeof ref !== "string" || ref === "") return undefined;
  const byId = state.get(kind, ref);
  if (byId) return byId;
  const all = state.list(kind);
  const byName = all.filter((o) => nameOf(kind, o) === ref);
  if (byName.length === 1) return byName[0];
  const byPrefix = all.filter((o) => o.id.startsWith(ref));
  if (byPrefix.length > 1)
    throw invalid(`${NOUN[kind]} ${ref} is ambiguous (${byPrefix.length} matches found)`);
  return byPrefix[0];
}

export function resolve<K extends Kind>(state: ClusterState, kind: K, ref: string): Kinds[K] {
  const found = find(state, kind, ref);
  if (!found) throw notFound(`${NOUN[kind]} ${ref} not found`);
  return found;
}

export function resolveNetwork(state: ClusterState, ref: string): Network {
  return resolve(state, "networks", ref);
}
