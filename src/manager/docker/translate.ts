// Docker Engine API requests in swarmnet's terms, and the API's version
// rules. Pure. What swarmnet cannot do is never dropped silently: fields
// whose absence cannot change networking (resources, restart policy,
// secrets, mounts, …) are accepted and named in the response's Warnings;
// fields that would change how tasks are wired or named (extra hosts, DNS
// settings, network sysctls, jobs, IPv6) are refused with a 400.
import { invalid } from "../../core/errors.ts";
import type { NetworkCreateRequest } from "../../core/network-spec.ts";
import type { ServiceSpecInput } from "../../core/service-spec.ts";

/** The Engine API versions served: Docker 20.10's through Docker 28's. */
export const MIN_API_VERSION = "1.41";
export const MAX_API_VERSION = "1.50";

/** "1.41" → [1, 41]; undefined when not a version. */
function parseVersion(v: string): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)$/.exec(v);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

export function compareVersions(a: string, b: string): number {
  const x = parseVersion(a)!;
  const y = parseVersion(b)!;
  return x[0] - y[0] || x[1] - y[1];
}

/**
 * The version a request's path asks for ("/v1.47/info" → "1.47"; none: the
 * newest), checked against what is served, with Docker's words when outside.
 */
export function requestedVersion(path: string): { version: string; rest: string } {
  const m = /^\/v([^/]+)(\/.*)?$/.exec(path);
  if (!m) return { version: MAX_API_VERSION, rest: path };
  const version = m[1]!;
  if (!parseVersion(version)) throw invalid(`invalid API version: ${version}`);
  if (compareVersions(version, MIN_API_VERSION) < 0) {
    throw invalid(
      `client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`,
    );
  }
  if (compareVersions(version, MAX_API_VERSION) > 0) {
    throw invalid(
      `client version ${version} is too new. Maximum supported API version is ${MAX_API_VERSION}`,
    );
  }
  return { version, rest: m[2] ?? "/" };
}

/** Docker's `filters` query parameter: {"name":{"web":true}} or {"name":["web"]}. */
export type Filters = Map<string, string[]>;

export function parseFilters(raw: string | null, known: readonly string[]): Filters {
  const out: Filters = new Map();
  if (!raw) return out;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw invalid(`invalid filter: ${raw}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw invalid(`invalid filter: ${raw}`);
  for (const [key, value] of Object.entries(parsed)) {
    if (!known.includes(key)) throw invalid(`invalid filter '${key}'`);
    const values = Array.isArray(value)
      ? value.map(String)
      : typeof value === "object" && value !== null
        ? Object.entries(value)
            .filter(([, on]) => on === true)
            .map(([v]) => v)
        : undefined;
    if (!values) throw invalid(`invalid filter: ${raw}`);
    out.set(key, values);
  }
  return out;
}

/** A `label` filter: every value ("k" or "k=v") must hold. */
export function labelsMatch(labels: Record<string, string>, wanted: string[] | undefined): boolean {
  if (!wanted) return true;
  return wanted.every((w) => {
    const eq = w.indexOf("=");
    if (eq < 0) return w in labels;
    return labels[w.slice(0, eq)] === w.slice(eq + 1);
  });
}

/** Any of the values matches (Docker ORs the values of one filter key). */
export function anyOf(values: string[] | undefined, test: (v: string) => boolean): boolean {
  return !values || values.some(test);
}

type Obj = Record<string, unknown>;

function obj(v: unknown, what: string): Obj {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) throw invalid(`${what} must be an object`);
  return v as Obj;
}

function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === "" || v === false || v === 0) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === "object") return Object.values(v as Obj).every(isEmpty);
  return false;
}

/** Fields of a ContainerSpec swarmnet does not apply but that cannot change
 * how tasks are wired: accepted, with a warning. */
const IGNORED_CONTAINER_FIELDS = [
  "Dir",
  "User",
  "Groups",
  "Privileges",
  "Init",
  "TTY",
  "OpenStdin",
  "ReadOnly",
  "Mounts",
  "StopSignal",
  "StopGracePeriod",
  "Healthcheck",
  "Secrets",
  "Configs",
  "Isolation",
  "CapabilityAdd",
  "CapabilityDrop",
  "Ulimits",
  "OomScoreAdj",
  "Hostname",
];
/** Fields that would change names, addresses or the network stack: refused. */
const REFUSED_CONTAINER_FIELDS: Record<string, string> = {
  Hosts: "extra /etc/hosts entries",
  DNSConfig: "custom DNS settings (tasks resolve through swarmnet's DNS at 127.0.0.11)",
  Sysctls: "sysctls",
};
const IGNORED_TASK_FIELDS = ["Resources", "RestartPolicy", "LogDriver", "ForceUpdate", "Runtime"];
const IGNORED_SERVICE_FIELDS = ["UpdateConfig", "RollbackConfig"];

/**
 * A Docker ServiceSpec as swarmnet's service input. `Image` is kept as
 * documentation; `Command` then `Args` are the task's command (none: the
 * built-in responder). Returns the warnings for what was ignored.
 */
export function fromDockerServiceSpec(body: unknown): {
  input: ServiceSpecInput;
  warnings: string[];
} {
  const spec = obj(body, "the service spec");
  const warnings: string[] = [];
  const ignore = (path: string) =>
    warnings.push(`${path} is not supported by swarmnet and was ignored`);
  const task = obj(spec.TaskTemplate, "TaskTemplate");
  if (task.PluginSpec !== undefined || task.NetworkAttachmentSpec !== undefined)
    throw invalid("swarmnet runs container tasks only");
  const container = obj(task.ContainerSpec, "TaskTemplate.ContainerSpec");
  for (const [field, what] of Object.entries(REFUSED_CONTAINER_FIELDS)) {
    const value = container[field];
    if (field === "Sysctls") {
      // Only network sysctls change the data plane; others cannot be applied either, but are harmless.
      const keys = Object.keys(obj(value, "Sysctls"));
      if (keys.some((k) => k.startsWith("net.")))
        throw invalid(`swarmnet does not apply ${what} (${keys.join(", ")})`);
      if (keys.length) ignore("TaskTemplate.ContainerSpec.Sysctls");
      continue;
    }
    if (!isEmpty(value)) throw invalid(`swarmnet does not apply ${what} (ContainerSpec.${field})`);
  }
  for (const field of IGNORED_CONTAINER_FIELDS) {
    if (!isEmpty(container[field])) ignore(`TaskTemplate.ContainerSpec.${field}`);
  }
  for (const field of IGNORED_TASK_FIELDS) {
    if (!isEmpty(task[field])) ignore(`TaskTemplate.${field}`);
  }
  for (const field of IGNORED_SERVICE_FIELDS) {
    if (!isEmpty(spec[field])) ignore(field);
  }
  const strings = (v: unknown, what: string): string[] => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string"))
      throw invalid(`${what} must be a list of strings`);
    return v as string[];
  };
  const command = [
    ...strings(container.Command, "ContainerSpec.Command"),
    ...strings(container.Args, "ContainerSpec.Args"),
  ];

  const placement = obj(task.Placement, "TaskTemplate.Placement");
  for (const field of ["Preferences", "MaxReplicas"]) {
    if (!isEmpty(placement[field])) ignore(`TaskTemplate.Placement.${field}`);
  }
  // The CLI copies the image's platforms here; every swarmnet node is linux
  // on this machine's architecture, so only a list without it goes unmet.
  const platforms = placement.Platforms;
  if (Array.isArray(platforms) && platforms.length > 0 && !platforms.some(isOurPlatform))
    ignore("TaskTemplate.Placement.Platforms");

  // Networks: TaskTemplate.Networks, or the deprecated top-level Networks.
  const networksIn = task.Networks ?? spec.Networks ?? [];
  if (!Array.isArray(networksIn)) throw invalid("TaskTemplate.Networks must be a list");
  const networks = networksIn.map((raw) => {
    const n = obj(raw, "each network attachment");
    if (!isEmpty(n.DriverOpts)) throw invalid("swarmnet does not apply per-attachment DriverOpts");
    return { target: n.Target, aliases: n.Aliases ?? [] };
  });

  const modeIn = obj(spec.Mode, "Mode");
  let mode: ServiceSpecInput["mode"];
  if (modeIn.ReplicatedJob !== undefined || modeIn.GlobalJob !== undefined)
    throw invalid("swarmnet does not run jobs: use a replicated or global service");
  if (modeIn.Global !== undefined) mode = { global: {} };
  else {
    const replicated = obj(modeIn.Replicated, "Mode.Replicated");
    mode = { replicated: { replicas: replicated.Replicas ?? 1 } };
  }

  const endpoint = obj(spec.EndpointSpec, "EndpointSpec");
  const portsIn = endpoint.Ports ?? [];
  if (!Array.isArray(portsIn)) throw invalid("EndpointSpec.Ports must be a list");
  const ports = portsIn.map((raw) => {
    const p = obj(raw, "each port");
    if (p.Name !== undefined && p.Name !== "") ignore("EndpointSpec.Ports[].Name");
    return {
      protocol: p.Protocol ?? "tcp",
      targetPort: p.TargetPort,
      publishedPort: p.PublishedPort ?? 0,
      publishMode: p.PublishMode ?? "ingress",
    };
  });

  const input: ServiceSpecInput = {
    name: spec.Name,
    labels: spec.Labels ?? {},
    containerLabels: container.Labels ?? {},
    image: container.Image ?? "",
    command,
    env: strings(container.Env, "ContainerSpec.Env"),
    mode,
    networks,
    endpoint: { mode: (endpoint.Mode as string | undefined) ?? "vip", ports },
    placement: { constraints: placement.Constraints ?? [] },
  };
  return { input, warnings };
}

function isOurPlatform(p: unknown): boolean {
  const { OS, Architecture } = obj(p, "each platform");
  const arch = process.arch === "x64" ? ["amd64", "x86_64"] : [process.arch];
  return (
    (OS === undefined || OS === "linux") &&
    (Architecture === undefined || arch.includes(String(Architecture)))
  );
}

/** POST /networks/create's body as swarmnet's network request. */
export function fromDockerNetworkCreate(body: unknown): {
  request: NetworkCreateRequest;
  warnings: string[];
} {
  const b = obj(body, "the request body");
  const warnings: string[] = [];
  if (b.EnableIPv6 === true) throw invalid("swarmnet networks are IPv4 only (EnableIPv6)");
  if (b.ConfigOnly === true || !isEmpty(obj(b.ConfigFrom, "ConfigFrom").Network))
    throw invalid("configuration-only networks are not supported by swarmnet");
  if (b.Scope !== undefined && b.Scope !== "" && b.Scope !== "swarm")
    throw invalid(`swarmnet networks have swarm scope, not ${String(b.Scope)}`);
  const ipam = obj(b.IPAM, "IPAM");
  if (ipam.Driver !== undefined && ipam.Driver !== "" && ipam.Driver !== "default")
    throw invalid(`IPAM driver ${String(ipam.Driver)} is not supported (only "default")`);
  if (!isEmpty(ipam.Options))
    warnings.push("IPAM.Options are not supported by swarmnet and were ignored");
  const configs = ipam.Config ?? [];
  if (!Array.isArray(configs)) throw invalid("IPAM.Config must be a list");
  const request: NetworkCreateRequest = {
    name: b.Name as string,
    driver: (b.Driver as string | undefined) || "overlay",
    attachable: b.Attachable === true,
    internal: b.Internal === true,
    ingress: b.Ingress === true,
    ipam: configs.map((raw) => {
      const c = obj(raw, "each IPAM config");
      return {
        ...(c.Subnet !== undefined && { subnet: c.Subnet as string }),
        ...(c.Gateway !== undefined && { gateway: c.Gateway as string }),
        ...(c.IPRange !== undefined && { ipRange: c.IPRange as string }),
        ...(c.AuxiliaryAddresses !== undefined && {
          auxAddresses: c.AuxiliaryAddresses as Record<string, string>,
        }),
      };
    }),
    options: (b.Options as Record<string, string> | undefined) ?? {},
    labels: (b.Labels as Record<string, string> | undefined) ?? {},
  };
  return { request, warnings };
}
