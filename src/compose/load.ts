// `swarmnet stack deploy`'s reading of compose files: texts and an
// environment in, the networks and services to create out. Pure — the CLI
// reads the files and sends the requests. What is read and what is not is
// listed in README.md; each part of a file is read by its own module
// (service.ts, network.ts, …), this one puts the stack together.
import type { ServiceSpec } from "../core/model.ts";
import type { NetworkCreateRequest } from "../core/network-spec.ts";
import { ComposeError, type Position } from "./errors.ts";
import { TOP_KEYS, TOP_READ } from "./keys.ts";
import { mergeAll } from "./merge.ts";
import { network } from "./network.ts";
import { asMap, fail, isNull, Loader } from "./reader.ts";
import { type ServiceResult, service } from "./service.ts";
import { type CNode, readFile } from "./tree.ts";

export { STACK_IMAGE_LABEL, STACK_NAMESPACE_LABEL } from "./labels.ts";

export interface LoadStackInput {
  /** The stack's name (`docker stack deploy … NAME`). */
  stack: string;
  /** In `-c` order; later files merge over earlier ones. */
  files: { file: string; text: string }[];
  /** For `${VAR}` interpolation and `environment` entries without a value. */
  env: Record<string, string>;
}

export interface StackNetworkPlan {
  /** The key under `networks:` (`default` for the stack's default network). */
  key: string;
  /** The swarmnet network's name: `<stack>_<key>`, or `name:`, or the external name. */
  name: string;
  /** Must already exist; never created nor removed by the stack. */
  external: boolean;
  /** The `POST /v1/networks` body; absent for an external network. */
  create?: NetworkCreateRequest;
}

export interface StackServicePlan {
  /** The key under `services:`, the name other services resolve it by. */
  key: string;
  /** `<stack>_<key>`. */
  name: string;
  /** The `POST /v1/services` body; network targets are network names. */
  spec: ServiceSpec;
  /** No command and no entrypoint: swarmnet's built-in responder runs. */
  responder: boolean;
  /** `expose` ports: the responder should listen on them besides the target
   * ports (swarmnet's service spec has no field for them yet). */
  expose: number[];
  /** `environment`, resolved (also in `spec.env`, as KEY=value). */
  environment: Record<string, string>;
}

export interface StackPlan {
  stack: string;
  /** Sorted by key. External ones included, with `external: true`. */
  networks: StackNetworkPlan[];
  /** Sorted by key. */
  services: StackServicePlan[];
  /** Key paths that are valid compose but that swarmnet does not apply, sorted, unique. */
  notApplied: string[];
  warnings: string[];
}

/** One line for the user, in the spirit of Docker's "Ignoring unsupported options: …". */
export function formatNotApplied(notApplied: string[]): string {
  return notApplied.length === 0
    ? ""
    : `Ignoring options swarmnet does not apply: ${notApplied.join(", ")}`;
}

// ---- The whole stack ----

const STACK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** The files, interpolated and merged; the top-level keys this loader reads. */
function readFiles(
  loader: Loader,
  files: LoadStackInput["files"],
  env: Record<string, string>,
): Map<string, CNode> {
  const unset = new Set<string>();
  const ctx = {
    env,
    unset: (name: string) => {
      if (unset.has(name)) return;
      unset.add(name);
      loader.warnings.push(`The "${name}" variable is not set. Defaulting to a blank string.`);
    },
  };
  const trees = files.map((f) => readFile(f.file, f.text, ctx));
  // Unknown top-level keys are caught file by file, with that file's position.
  for (const t of trees) new Loader().fields(t, "", TOP_KEYS, TOP_KEYS);
  const root = mergeAll(trees);
  return loader.fields(root, "", TOP_KEYS, TOP_READ);
}

/** Every service, in key order. */
function readServices(
  loader: Loader,
  stack: string,
  node: CNode | undefined,
  env: Record<string, string>,
): ServiceResult[] {
  const services: ServiceResult[] = [];
  if (!isNull(node)) {
    const entries = [...asMap(node!, "services").entries].filter(([k]) => !k.startsWith("x-"));
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [key, e] of entries)
      services.push(service(loader, stack, key, e.value, e.keyPos, env));
  }
  if (services.length === 0) loader.warnings.push("the stack has no services");
  return services;
}

type Declared = Map<string, { node: CNode; keyPos: Position }>;

/** The entries of `networks:`, not yet read: only those a service uses are created. */
function declaredNetworks(node: CNode | undefined): Declared {
  const declared: Declared = new Map();
  if (!isNull(node)) {
    for (const [k, e] of asMap(node!, "networks").entries) {
      if (!k.startsWith("x-")) declared.set(k, { node: e.value, keyPos: e.keyPos });
    }
  }
  return declared;
}

/** The networks the services use, by key, in the order services first use them. */
function usedNetworks(
  loader: Loader,
  stack: string,
  services: ServiceResult[],
  declared: Declared,
): Map<string, StackNetworkPlan> {
  const networks = new Map<string, StackNetworkPlan>();
  for (const s of services) {
    for (const a of s.attachments) {
      if (networks.has(a.key)) continue;
      const d = declared.get(a.key);
      if (!d && a.key !== "default") {
        fail(
          a.pos,
          `service "${s.plan.key}" refers to undefined network ${a.key}: invalid compose project`,
        );
      }
      const node: CNode = d?.node ?? { kind: "scalar", value: null, pos: a.pos };
      networks.set(a.key, network(loader, stack, a.key, node, d?.keyPos ?? a.pos));
    }
  }
  for (const [k, d] of declared) {
    if (networks.has(k)) continue;
    // Still checked, so a mistake is caught before it is used.
    network(loader, stack, k, d.node, d.keyPos);
    loader.warnings.push(`network ${k} is declared but no service uses it: not created`);
  }
  return networks;
}

/** Fills in each service spec's networks, now that their names are known. */
function attachNetworks(services: ServiceResult[], networks: Map<string, StackNetworkPlan>): void {
  for (const s of services) {
    s.plan.spec.networks = s.attachments
      .map((a) => {
        const target = networks.get(a.key)!.name;
        // As docker stack deploy: the short name is an alias on every network.
        const aliases = [...new Set([s.plan.key, ...a.aliases])];
        return { target, aliases };
      })
      .sort((x, y) => (x.target < y.target ? -1 : x.target > y.target ? 1 : 0));
    const targets = s.plan.spec.networks.map((n) => n.target);
    const dup = targets.find((t, i) => targets.indexOf(t) !== i);
    if (dup)
      fail(s.attachments[0]!.pos, `service "${s.plan.key}" is attached to network ${dup} twice`);
  }
}

export function loadStack(input: LoadStackInput): StackPlan {
  const { stack, files, env } = input;
  if (!STACK_NAME.test(stack)) {
    throw new ComposeError(
      `invalid stack name "${stack}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
    );
  }
  if (files.length === 0)
    throw new ComposeError("please specify a Compose file (with --compose-file)");
  const loader = new Loader();
  const top = readFiles(loader, files, env);
  const services = readServices(loader, stack, top.get("services"), env);
  const declared = declaredNetworks(top.get("networks"));
  const networks = usedNetworks(loader, stack, services, declared);
  attachNetworks(services, networks);
  return {
    stack,
    networks: [...networks.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)),
    services: services.map((s) => s.plan),
    notApplied: [...loader.notApplied].sort(),
    warnings: loader.warnings,
  };
}
