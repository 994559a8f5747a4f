// Checks and normalises a service spec as the API receives it. Network
// references may be names or ids; the caller resolves them (it owns the state).
import { parseConstraints } from "./constraints.ts";
import { invalid } from "./errors.ts";
import type { EndpointMode, PortConfig, ServiceSpec } from "./model.ts";
import { validateLabels } from "./network-spec.ts";
import { parseProtocol, parsePublishMode } from "./ports.ts";

/** The API's input: ServiceSpec with everything optional but the name. */
export interface ServiceSpecInput {
  name?: unknown;
  labels?: unknown;
  containerLabels?: unknown;
  image?: unknown;
  command?: unknown;
  env?: unknown;
  mode?: unknown;
  networks?: unknown;
  endpoint?: unknown;
  placement?: unknown;
}

/** swarmkit's rule: letters and digits, inner runs of `-` and `_` (stack
 * services are named `<stack>_<service>`). */
const DNS_LABEL = /^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$/;
export const MAX_REPLICAS = 100_000;

export function validateServiceName(name: unknown): string {
  if (typeof name !== "string" || name === "")
    throw invalid("service name must not be empty (use --name)");
  if (name.length > 63 || !DNS_LABEL.test(name)) {
    throw invalid(`invalid service name "${name}": name must be valid as a DNS name component`);
  }
  return name;
}

export function validateReplicas(value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw invalid(`invalid replicas value ${String(value)}: must be a non-negative integer`);
  }
  if (value > MAX_REPLICAS)
    throw invalid(`invalid replicas value ${value}: at most ${MAX_REPLICAS}`);
  return value;
}

function stringList(value: unknown, what: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
    throw invalid(`${what} must be a list of strings`);
  }
  return value as string[];
}

function checkPort(raw: unknown): PortConfig {
  if (typeof raw !== "object" || raw === null) throw invalid("each port must be an object");
  const p = raw as Record<string, unknown>;
  const num = (v: unknown, what: string, allowZero: boolean): number => {
    if (v === undefined && allowZero) return 0;
    if (typeof v !== "number" || !Number.isInteger(v) || v < (allowZero ? 0 : 1) || v > 65535) {
      throw invalid(`invalid ${what}: ${String(v)} (must be between 1 and 65535)`);
    }
    return v;
  };
  return {
    protocol: parseProtocol(typeof p.protocol === "string" ? p.protocol : "tcp"),
    targetPort: num(p.targetPort, "target port", false),
    publishedPort: num(p.publishedPort, "published port", true),
    publishMode: parsePublishMode(typeof p.publishMode === "string" ? p.publishMode : "ingress"),
  };
}

export function checkServiceSpec(
  input: ServiceSpecInput,
  resolveNetwork: (ref: string) => string,
): ServiceSpec {
  if (typeof input !== "object" || input === null)
    throw invalid("the service spec must be a JSON object");
  const name = validateServiceName(input.name);
  let mode: ServiceSpec["mode"] = { replicated: { replicas: 1 } };
  if (input.mode !== undefined) {
    const m = input.mode as Record<string, unknown>;
    if (typeof m === "object" && m !== null && "global" in m) mode = { global: {} };
    else if (typeof m === "object" && m !== null && "replicated" in m) {
      const r = m.replicated as Record<string, unknown> | undefined;
      mode = { replicated: { replicas: validateReplicas(r?.replicas ?? 1) } };
    } else throw invalid('mode must be {"replicated":{"replicas":N}} or {"global":{}}');
  }
  const endpointIn = (input.endpoint ?? {}) as Record<string, unknown>;
  const endpointMode = (endpointIn.mode ?? "vip") as EndpointMode;
  if (endpointMode !== "vip" && endpointMode !== "dnsrr") {
    throw invalid(`invalid endpoint mode "${String(endpointMode)}": must be vip or dnsrr`);
  }
  const portsIn = endpointIn.ports ?? [];
  if (!Array.isArray(portsIn)) throw invalid("ports must be a list");
  const ports = portsIn.map(checkPort);
  if (endpointMode === "dnsrr" && ports.some((p) => p.publishMode === "ingress")) {
    throw invalid("EndpointSpec: port published with ingress mode can't be used with dnsrr mode");
  }
  const seen = new Set<string>();
  for (const p of ports) {
    if (p.publishedPort === 0) continue;
    const key = `${p.publishedPort}/${p.protocol}`;
    if (seen.has(key)) throw invalid(`EndpointSpec: duplicate published ports provided (${key})`);
    seen.add(key);
  }
  const networksIn = input.networks ?? [];
  if (!Array.isArray(networksIn)) throw invalid("networks must be a list");
  const networks = networksIn.map((raw) => {
    const n = (typeof raw === "string" ? { target: raw } : raw) as Record<string, unknown>;
    if (typeof n?.target !== "string" || n.target === "")
      throw invalid("each network needs a target");
    return { target: resolveNetwork(n.target), aliases: stringList(n.aliases, "network aliases") };
  });
  const ids = networks.map((n) => n.target);
  if (new Set(ids).size !== ids.length)
    throw invalid("service cannot be attached to the same network twice");
  const placementIn = (input.placement ?? {}) as Record<string, unknown>;
  const constraints = stringList(placementIn.constraints, "placement constraints");
  parseConstraints(constraints);
  const command = stringList(input.command, "command");
  const env = stringList(input.env, "env");
  for (const e of env) {
    if (!/^[^=\s][^=]*=/.test(e))
      throw invalid(`invalid environment variable "${e}": expected KEY=value`);
  }
  if (input.image !== undefined && typeof input.image !== "string")
    throw invalid("image must be a string");
  return {
    name,
    labels: validateLabels(input.labels),
    containerLabels: validateLabels(input.containerLabels, "container label"),
    image: (input.image as string | undefined) ?? "",
    command,
    ...(env.length > 0 && { env }),
    mode,
    networks,
    endpoint: { mode: endpointMode, ports },
    placement: { constraints },
  };
}
