// `swarmnet stack deploy`'s reading of compose files: texts and an
// environment in, the networks and services to create out. Pure — the CLI
// reads the files and sends the requests. What is read and what is not is
// listed in README.md.
import { isSwarmnetError } from "../core/errors.ts";
import type { PortConfig, ServiceSpec } from "../core/model.ts";
import { checkNetworkRequest, type NetworkCreateRequest } from "../core/network-spec.ts";
import {
  parsePortNumber,
  parseProtocol,
  parsePublishMode,
  RESPONDER_EXPOSE_LABEL,
} from "../core/ports.ts";
import { checkServiceSpec, validateServiceName } from "../core/service-spec.ts";
import { ComposeError, type Position } from "./errors.ts";
import { mergeAll } from "./merge.ts";
import { ShellWordsError, splitShellWords } from "./shell-words.ts";
import { type CNode, type MapNode, readFile, type ScalarNode } from "./tree.ts";

export const STACK_NAMESPACE_LABEL = "com.docker.stack.namespace";
export const STACK_IMAGE_LABEL = "com.docker.stack.image";

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

// ---- The keys of the Compose Specification, and which of them are read ----

const TOP_KEYS = [
  "version",
  "name",
  "services",
  "networks",
  "volumes",
  "configs",
  "secrets",
  "include",
  "models",
];
const TOP_READ = ["version", "services", "networks"];

const SERVICE_KEYS = [
  "annotations",
  "attach",
  "blkio_config",
  "build",
  "cap_add",
  "cap_drop",
  "cgroup",
  "cgroup_parent",
  "command",
  "configs",
  "container_name",
  "cpu_count",
  "cpu_percent",
  "cpu_period",
  "cpu_quota",
  "cpu_rt_period",
  "cpu_rt_runtime",
  "cpu_shares",
  "cpus",
  "cpuset",
  "credential_spec",
  "depends_on",
  "deploy",
  "develop",
  "device_cgroup_rules",
  "devices",
  "dns",
  "dns_opt",
  "dns_search",
  "domainname",
  "driver_opts",
  "entrypoint",
  "env_file",
  "environment",
  "expose",
  "extends",
  "external_links",
  "extra_hosts",
  "gpus",
  "group_add",
  "healthcheck",
  "hostname",
  "image",
  "init",
  "ipc",
  "isolation",
  "label_file",
  "labels",
  "links",
  "logging",
  "mac_address",
  "mem_limit",
  "mem_reservation",
  "mem_swappiness",
  "memswap_limit",
  "models",
  "network_mode",
  "networks",
  "oom_kill_disable",
  "oom_score_adj",
  "pid",
  "pids_limit",
  "platform",
  "ports",
  "post_start",
  "pre_stop",
  "privileged",
  "profiles",
  "provider",
  "pull_policy",
  "read_only",
  "restart",
  "runtime",
  "scale",
  "secrets",
  "security_opt",
  "shm_size",
  "stdin_open",
  "stop_grace_period",
  "stop_signal",
  "storage_opt",
  "sysctls",
  "tmpfs",
  "tty",
  "ulimits",
  "use_api_socket",
  "user",
  "userns_mode",
  "uts",
  "volumes",
  "volumes_from",
  "working_dir",
];
const SERVICE_READ = [
  "image",
  "command",
  "entrypoint",
  "labels",
  "deploy",
  "ports",
  "networks",
  "expose",
  "environment",
];

const DEPLOY_KEYS = [
  "endpoint_mode",
  "labels",
  "mode",
  "placement",
  "replicas",
  "resources",
  "restart_policy",
  "rollback_config",
  "update_config",
];
const DEPLOY_READ = ["endpoint_mode", "labels", "mode", "placement", "replicas"];
const PLACEMENT_KEYS = ["constraints", "preferences", "max_replicas_per_node"];
const PLACEMENT_READ = ["constraints"];
const PORT_KEYS = ["name", "target", "published", "host_ip", "protocol", "app_protocol", "mode"];
const PORT_READ = ["target", "published", "host_ip", "protocol", "mode"];
const ATTACH_KEYS = [
  "aliases",
  "ipv4_address",
  "ipv6_address",
  "link_local_ips",
  "mac_address",
  "driver_opts",
  "priority",
  "gw_priority",
  "interface_name",
];
const ATTACH_READ = ["aliases"];
const NETWORK_KEYS = [
  "driver",
  "driver_opts",
  "attachable",
  "enable_ipv4",
  "enable_ipv6",
  "ipam",
  "internal",
  "labels",
  "external",
  "name",
];
const NETWORK_READ = NETWORK_KEYS;
const IPAM_KEYS = ["driver", "config", "options"];
const IPAM_READ = ["driver", "config"];
const IPAM_CONFIG_KEYS = ["subnet", "ip_range", "gateway", "aux_addresses"];

/** Keys of the spec that would change which services exist or what they are:
 * ignoring them would deploy something else than the file says, so they are refused. */
const UNSUPPORTED: Record<string, string> = {
  include: "not supported by stack deploy (merge the files with -c instead)",
  "services.*.extends": "not supported by stack deploy",
  // Docker applies these; swarmnet's tasks resolve through its own DNS and
  // hosts files it does not edit, so ignoring them would wire the service
  // differently from what the file says.
  "services.*.dns":
    "is not supported by swarmnet: tasks resolve through swarmnet's DNS at 127.0.0.11",
  "services.*.dns_search": "is not supported by swarmnet: tasks resolve through swarmnet's DNS",
  "services.*.dns_opt": "is not supported by swarmnet: tasks resolve through swarmnet's DNS",
  "services.*.extra_hosts": "is not supported by swarmnet (extra /etc/hosts entries)",
};

// ---- Reading helpers ----

class Loader {
  notApplied = new Set<string>();
  warnings: string[] = [];

  /** The entries of a mapping this code reads; `x-` keys are skipped, spec keys
   * outside `read` recorded as not applied, anything else refused. */
  fields(node: CNode, path: string, known: string[], read: string[]): Map<string, CNode> {
    const map0 = asMap(node, path);
    for (const [k, e] of map0.entries) {
      const why = UNSUPPORTED[path ? `${path.replace(/^services\.[^.]+/, "services.*")}.${k}` : k];
      if (why) fail(e.keyPos, `${path ? `${path}.` : ""}${k}: ${why}`);
    }
    const map = asMap(node, path);
    const out = new Map<string, CNode>();
    for (const [k, e] of map.entries) {
      if (k.startsWith("x-")) continue;
      const child = path ? `${path}.${k}` : k;
      if (!known.includes(k))
        fail(e.keyPos, `${path || "(root)"} Additional property ${k} is not allowed`);
      if (!read.includes(k)) {
        this.notApplied.add(child);
        continue;
      }
      out.set(k, e.value);
    }
    return out;
  }
}

function fail(pos: Position | undefined, message: string): never {
  throw new ComposeError(message, pos);
}

/** Runs a check from src/core and gives its complaint a position. */
function at<T>(pos: Position, what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (isSwarmnetError(e)) fail(pos, what ? `${what}: ${e.message}` : e.message);
    throw e;
  }
}

function isNull(node: CNode | undefined): boolean {
  return node === undefined || (node.kind === "scalar" && node.value === null);
}

function asMap(node: CNode, path: string): MapNode {
  if (isNull(node)) return { kind: "map", entries: new Map(), pos: node.pos };
  if (node.kind !== "map") fail(node.pos, `${path} must be a mapping`);
  return node;
}

function scalar(node: CNode, path: string): ScalarNode {
  if (node.kind !== "scalar") fail(node.pos, `${path} must be a string`);
  return node;
}

function str(node: CNode, path: string): string {
  const v = scalar(node, path).value;
  if (typeof v === "boolean" || v === null) fail(node.pos, `${path} must be a string`);
  return String(v);
}

/** A value of a string mapping (labels, environment, driver options): numbers
 * and booleans are taken as written, as compose does. */
function text(node: CNode, path: string): string {
  const v = scalar(node, path).value;
  return v === null ? "" : String(v);
}

function bool(node: CNode, path: string): boolean {
  const v = scalar(node, path).value;
  if (typeof v === "boolean") return v;
  if (v === "true" || v === "false") return v === "true";
  return fail(node.pos, `${path} must be a boolean`);
}

function uint(node: CNode, path: string): number {
  const v = scalar(node, path).value;
  const text = String(v);
  if ((typeof v !== "number" && typeof v !== "string") || !/^\d+$/.test(text)) {
    fail(node.pos, `${path} must be a non-negative integer`);
  }
  return Number(text);
}

function strList(node: CNode, path: string): { value: string; pos: Position }[] {
  if (node.kind !== "seq") fail(node.pos, `${path} must be a list`);
  return node.items.map((item, i) => ({ value: str(item, `${path}.${i}`), pos: item.pos }));
}

/** A KEY=VALUE list or a mapping (after normalize, always a mapping). */
function stringMap(node: CNode, path: string): Record<string, string> {
  if (isNull(node)) return {};
  if (node.kind === "seq")
    fail(node.pos, `${path} must be a mapping or a list of KEY=VALUE strings`);
  const out: Record<string, string> = {};
  for (const [k, e] of asMap(node, path).entries) {
    out[k] = text(e.value, `${path}.${k}`);
  }
  return out;
}

// ---- Services ----

function command(node: CNode, path: string): string[] {
  if (node.kind === "seq") return strList(node, path).map((w) => w.value);
  const text = str(node, path);
  try {
    return splitShellWords(text);
  } catch (e) {
    if (e instanceof ShellWordsError) fail(node.pos, `${path}: ${e.message}`);
    throw e;
  }
}

/** `A-B` or `A`, as a list of port numbers. */
function portRange(text: string, pos: Position, what: string): number[] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (!m) fail(pos, `invalid ${what}: ${text}`);
  const lo = at(pos, "", () => parsePortNumber(m[1]!, what));
  const hi = m[2] === undefined ? lo : at(pos, "", () => parsePortNumber(m[2]!, what));
  if (hi < lo) fail(pos, `invalid range specified for ${what}: ${text}`);
  return Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
}

function unspecifiedIp(ip: string): boolean {
  return ip === "" || ip === "0.0.0.0" || ip === "::" || ip === "[::]";
}

function hostIpError(pos: Position, ip: string, spec: string): never {
  return fail(
    pos,
    `host IP ${ip} in port "${spec}" is not supported in swarm mode: published ports listen on every address of every node`,
  );
}

/** Short syntax: `[[IP:]PUBLISHED:]TARGET[/PROTOCOL]`, each port may be a range. */
function shortPort(text: string, pos: Position): PortConfig[] {
  const slash = text.lastIndexOf("/");
  const protocol = slash < 0 ? "tcp" : at(pos, "", () => parseProtocol(text.slice(slash + 1)));
  const body = slash < 0 ? text : text.slice(0, slash);
  // An IPv6 host address is written in brackets: [::1]:8080:80.
  let ip = "";
  let rest = body;
  const v6 = /^\[([^\]]*)\]:(.*)$/.exec(body);
  if (v6) {
    ip = v6[1]!;
    rest = v6[2]!;
  }
  const parts = rest.split(":");
  if (!v6 && parts.length === 3) ip = parts.shift()!;
  if (parts.length > 2 || parts.some((p) => p === "" && parts.length === 1)) {
    fail(pos, `invalid port format: ${text} (expected [[HOST_IP:]PUBLISHED:]TARGET[/PROTOCOL])`);
  }
  if (!unspecifiedIp(ip)) hostIpError(pos, ip, text);
  const targets = portRange(parts[parts.length - 1]!, pos, "containerPort");
  const publishedText = parts.length === 2 ? parts[0]! : "";
  const published = publishedText === "" ? [] : portRange(publishedText, pos, "hostPort");
  if (published.length > 0 && published.length !== targets.length) {
    fail(
      pos,
      `invalid port range: ${text}: the published and target ranges must have the same size`,
    );
  }
  return targets.map((target, i) => ({
    protocol,
    targetPort: target,
    publishedPort: published[i] ?? 0,
    publishMode: "ingress" as const,
  }));
}

function ports(loader: Loader, node: CNode, path: string): PortConfig[] {
  if (node.kind !== "seq") fail(node.pos, `${path} must be a list`);
  const out: PortConfig[] = [];
  node.items.forEach((item, i) => {
    const p = `${path}.${i}`;
    if (item.kind === "scalar") {
      out.push(...shortPort(str(item, p), item.pos));
      return;
    }
    const f = loader.fields(item, p, PORT_KEYS, PORT_READ);
    const target = f.get("target");
    if (isNull(target)) fail(item.pos, `${p} missing property target`);
    const hostIp = f.get("host_ip");
    if (hostIp && !isNull(hostIp)) {
      const ip = str(hostIp, `${p}.host_ip`);
      if (!unspecifiedIp(ip)) hostIpError(hostIp.pos, ip, `${p}`);
    }
    const t = uint(target!, `${p}.target`);
    const pub = f.get("published");
    let published = 0;
    if (!isNull(pub)) {
      const text = str(pub!, `${p}.published`);
      if (text.includes("-")) fail(pub!.pos, `${p}.published: a range needs the short syntax`);
      published = at(pub!.pos, `${p}.published`, () => parsePortNumber(text, "published port"));
    }
    const protocol = f.get("protocol");
    const mode = f.get("mode");
    out.push({
      protocol: isNull(protocol)
        ? "tcp"
        : at(protocol!.pos, p, () => parseProtocol(str(protocol!, `${p}.protocol`))),
      targetPort: at(target!.pos, p, () => parsePortNumber(String(t), "target port")),
      publishedPort: published,
      publishMode: isNull(mode)
        ? "ingress"
        : at(mode!.pos, p, () => parsePublishMode(str(mode!, `${p}.mode`))),
    });
  });
  // Unique by {target, published, protocol} (the merge rule): the later entry wins.
  const byKey = new Map<string, PortConfig>();
  for (const port of out)
    byKey.set(`${port.targetPort}/${port.publishedPort}/${port.protocol}`, port);
  return [...byKey.values()];
}

function expose(node: CNode, path: string): number[] {
  if (node.kind !== "seq") fail(node.pos, `${path} must be a list`);
  const out = new Set<number>();
  node.items.forEach((item, i) => {
    const text = str(item, `${path}.${i}`);
    const [range = "", proto, ...extra] = text.split("/");
    if (extra.length > 0) fail(item.pos, `invalid expose: ${text}`);
    if (proto !== undefined) at(item.pos, "", () => parseProtocol(proto));
    for (const port of portRange(range, item.pos, "expose port")) out.add(port);
  });
  return [...out].sort((a, b) => a - b);
}

interface ServiceResult {
  plan: StackServicePlan;
  /** Network keys this service attaches to, with their aliases. */
  attachments: { key: string; aliases: string[]; pos: Position }[];
}

function service(
  loader: Loader,
  stack: string,
  key: string,
  node: CNode,
  keyPos: Position,
  env: Record<string, string>,
): ServiceResult {
  const path = `services.${key}`;
  const name = at(keyPos, "", () => validateServiceName(`${stack}_${key}`));
  const f = loader.fields(node, path, SERVICE_KEYS, SERVICE_READ);
  const image =
    f.get("image") && !isNull(f.get("image")) ? str(f.get("image")!, `${path}.image`) : "";
  const entrypoint = !isNull(f.get("entrypoint"))
    ? command(f.get("entrypoint")!, `${path}.entrypoint`)
    : [];
  const cmd = !isNull(f.get("command")) ? command(f.get("command")!, `${path}.command`) : [];
  const argv = [...entrypoint, ...cmd];
  const labelsNode = f.get("labels");
  const containerLabels = {
    ...(isNull(labelsNode) ? {} : stringMap(labelsNode!, `${path}.labels`)),
    [STACK_NAMESPACE_LABEL]: stack,
  };

  const environment: Record<string, string> = {};
  const envNode = f.get("environment");
  if (envNode && !isNull(envNode)) {
    if (envNode.kind !== "map")
      fail(envNode.pos, `${path}.environment must be a mapping or a list of KEY=VALUE strings`);
    for (const [k, e] of envNode.entries) {
      if (isNull(e.value)) {
        if (env[k] !== undefined) environment[k] = env[k];
      } else environment[k] = text(e.value, `${path}.environment.${k}`);
    }
  }

  // deploy
  let mode: ServiceSpec["mode"] = { replicated: { replicas: 1 } };
  let endpointMode: "vip" | "dnsrr" = "vip";
  let labels: Record<string, string> = {};
  let constraints: { value: string; pos: Position }[] = [];
  const deployNode = f.get("deploy");
  if (deployNode && !isNull(deployNode)) {
    const d = loader.fields(deployNode, `${path}.deploy`, DEPLOY_KEYS, DEPLOY_READ);
    const modeNode = d.get("mode");
    const modeText = isNull(modeNode) ? "replicated" : str(modeNode!, `${path}.deploy.mode`);
    const replicasNode = d.get("replicas");
    const replicas = isNull(replicasNode)
      ? undefined
      : uint(replicasNode!, `${path}.deploy.replicas`);
    if (modeText === "global") {
      if (replicas !== undefined)
        fail(replicasNode!.pos, "replicas can only be used with replicated mode");
      mode = { global: {} };
    } else if (modeText === "replicated") {
      mode = { replicated: { replicas: replicas ?? 1 } };
    } else if (modeText === "replicated-job" || modeText === "global-job") {
      fail(
        modeNode!.pos,
        `${path}.deploy.mode: ${modeText} is not supported by swarmnet (services only)`,
      );
    } else {
      fail(modeNode!.pos, `${path}.deploy.mode: unknown mode: ${modeText}`);
    }
    const em = d.get("endpoint_mode");
    if (!isNull(em)) {
      const text = str(em!, `${path}.deploy.endpoint_mode`);
      if (text !== "vip" && text !== "dnsrr") {
        fail(em!.pos, `${path}.deploy.endpoint_mode: must be one of the following: "vip", "dnsrr"`);
      }
      endpointMode = text;
    }
    if (!isNull(d.get("labels"))) labels = stringMap(d.get("labels")!, `${path}.deploy.labels`);
    const placement = d.get("placement");
    if (!isNull(placement)) {
      const pl = loader.fields(
        placement!,
        `${path}.deploy.placement`,
        PLACEMENT_KEYS,
        PLACEMENT_READ,
      );
      const c = pl.get("constraints");
      if (!isNull(c)) constraints = strList(c!, `${path}.deploy.placement.constraints`);
    }
  }
  const seenConstraint = new Set<string>();
  constraints = constraints.filter(
    (c) => !seenConstraint.has(c.value) && seenConstraint.add(c.value),
  );

  const portsNode = f.get("ports");
  const portList = isNull(portsNode) ? [] : ports(loader, portsNode!, `${path}.ports`);
  const exposeNode = f.get("expose");
  const exposed = isNull(exposeNode) ? [] : expose(exposeNode!, `${path}.expose`);

  // networks: a mapping after normalize (the list form `[a, b]` becomes `{a:, b:}`).
  const attachments: ServiceResult["attachments"] = [];
  const netsNode = f.get("networks");
  if (isNull(netsNode)) attachments.push({ key: "default", aliases: [], pos: keyPos });
  else {
    if (netsNode!.kind !== "map")
      fail(netsNode!.pos, `${path}.networks must be a list or a mapping`);
    for (const [net, e] of netsNode!.entries) {
      if (net.startsWith("x-")) continue;
      const np = `${path}.networks.${net}`;
      const a = loader.fields(e.value, np, ATTACH_KEYS, ATTACH_READ);
      const aliasNode = a.get("aliases");
      const aliases = isNull(aliasNode)
        ? []
        : strList(aliasNode!, `${np}.aliases`).map((x) => x.value);
      attachments.push({ key: net, aliases, pos: e.keyPos });
    }
  }

  const spec: ServiceSpec = {
    name,
    labels: {
      ...labels,
      [STACK_NAMESPACE_LABEL]: stack,
      ...(image ? { [STACK_IMAGE_LABEL]: image } : {}),
    },
    // The responder (no command) also listens on `expose` ports; the label
    // carries them to the agent and survives a round trip through Docker's API.
    containerLabels:
      argv.length === 0 && exposed.length > 0
        ? { ...containerLabels, [RESPONDER_EXPOSE_LABEL]: exposed.join(",") }
        : containerLabels,
    image,
    command: argv,
    ...(Object.keys(environment).length > 0 && {
      env: Object.entries(environment).map(([k, v]) => `${k}=${v}`),
    }),
    mode,
    networks: [], // filled in once the networks are known
    endpoint: { mode: endpointMode, ports: portList },
    placement: { constraints: constraints.map((c) => c.value) },
  };
  // The checks the manager will make, now, with this file's positions.
  at(node.pos, `service "${key}"`, () => checkServiceSpec({ ...spec, networks: [] }, (r) => r));
  return {
    plan: { key, name, spec, responder: argv.length === 0, expose: exposed, environment },
    attachments,
  };
}

// ---- Networks ----

function network(
  loader: Loader,
  stack: string,
  key: string,
  node: CNode,
  keyPos: Position,
): StackNetworkPlan {
  const path = `networks.${key}`;
  const f = loader.fields(node, path, NETWORK_KEYS, NETWORK_READ);
  const ext = f.get("external");
  let external = false;
  let name: string | undefined;
  if (!isNull(ext)) {
    if (ext!.kind === "map") {
      // Legacy: `external: {name: x}`.
      const e = loader.fields(ext!, `${path}.external`, ["name"], ["name"]);
      external = true;
      if (!isNull(e.get("name"))) name = str(e.get("name")!, `${path}.external.name`);
      loader.warnings.push(
        `network ${key}: external.name is deprecated. Please set name and external: true`,
      );
    } else external = bool(ext!, `${path}.external`);
  }
  const nameNode = f.get("name");
  if (!isNull(nameNode)) {
    const n = str(nameNode!, `${path}.name`);
    if (name !== undefined && name !== n) {
      fail(nameNode!.pos, `network ${key}: name and external.name conflict; only use name`);
    }
    name = n;
  }
  if (external) {
    for (const k of [
      "driver",
      "driver_opts",
      "ipam",
      "internal",
      "attachable",
      "labels",
      "enable_ipv6",
    ]) {
      const conflicting = f.get(k);
      if (!isNull(conflicting)) {
        fail(
          conflicting!.pos,
          `conflicting parameters "external" and "${k}" specified for network "${key}"`,
        );
      }
    }
    return { key, name: name ?? key, external: true };
  }
  const driverNode = f.get("driver");
  const driver = isNull(driverNode) ? "overlay" : str(driverNode!, `${path}.driver`);
  if (driver !== "overlay") {
    fail(
      driverNode!.pos,
      `network "${key}" uses driver "${driver}": a stack's networks must use the overlay driver (swarm scope)`,
    );
  }
  const options: Record<string, string> = {};
  const optsNode = f.get("driver_opts");
  if (!isNull(optsNode)) {
    for (const [k, e] of asMap(optsNode!, `${path}.driver_opts`).entries) {
      options[k] = text(e.value, `${path}.driver_opts.${k}`);
    }
  }
  const v6 = f.get("enable_ipv6");
  if (!isNull(v6) && bool(v6!, `${path}.enable_ipv6`))
    fail(v6!.pos, `network "${key}": swarmnet networks are IPv4 only (enable_ipv6)`);
  const v4 = f.get("enable_ipv4");
  if (!isNull(v4) && !bool(v4!, `${path}.enable_ipv4`))
    fail(v4!.pos, `network "${key}": swarmnet networks are IPv4 only (enable_ipv4: false)`);
  const ipam: NonNullable<NetworkCreateRequest["ipam"]> = [];
  const ipamNode = f.get("ipam");
  if (!isNull(ipamNode)) {
    const i = loader.fields(ipamNode!, `${path}.ipam`, IPAM_KEYS, IPAM_READ);
    const drv = i.get("driver");
    if (!isNull(drv) && str(drv!, `${path}.ipam.driver`) !== "default") {
      fail(
        drv!.pos,
        `network "${key}": IPAM driver "${str(drv!, "")}" is not supported (only "default")`,
      );
    }
    const configNode = i.get("config");
    if (!isNull(configNode)) {
      if (configNode!.kind !== "seq") fail(configNode!.pos, `${path}.ipam.config must be a list`);
      configNode!.items.forEach((c, n) => {
        const cp = `${path}.ipam.config.${n}`;
        const cf = loader.fields(c, cp, IPAM_CONFIG_KEYS, IPAM_CONFIG_KEYS);
        const get = (k: string) => (isNull(cf.get(k)) ? undefined : str(cf.get(k)!, `${cp}.${k}`));
        ipam.push({
          subnet: get("subnet"),
          gateway: get("gateway"),
          ipRange: get("ip_range"),
          auxAddresses: isNull(cf.get("aux_addresses"))
            ? {}
            : stringMap(cf.get("aux_addresses")!, `${cp}.aux_addresses`),
        });
      });
    }
  }
  const labels = isNull(f.get("labels")) ? {} : stringMap(f.get("labels")!, `${path}.labels`);
  const boolField = (k: string) => (isNull(f.get(k)) ? false : bool(f.get(k)!, `${path}.${k}`));
  const create: NetworkCreateRequest = {
    name: name ?? `${stack}_${key}`,
    driver,
    attachable: boolField("attachable"),
    internal: boolField("internal"),
    ipam,
    options,
    labels: { ...labels, [STACK_NAMESPACE_LABEL]: stack },
  };
  at(node.kind === "scalar" ? keyPos : node.pos, `network "${key}"`, () =>
    checkNetworkRequest(create),
  );
  return { key, name: create.name, external: false, create };
}

// ---- The whole stack ----

const STACK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

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
  const top = loader.fields(root, "", TOP_KEYS, TOP_READ);

  const servicesNode = top.get("services");
  const services: ServiceResult[] = [];
  if (!isNull(servicesNode)) {
    const entries = [...asMap(servicesNode!, "services").entries].filter(
      ([k]) => !k.startsWith("x-"),
    );
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [key, e] of entries)
      services.push(service(loader, stack, key, e.value, e.keyPos, env));
  }
  if (services.length === 0) loader.warnings.push("the stack has no services");

  const declared = new Map<string, { node: CNode; keyPos: Position }>();
  const networksNode = top.get("networks");
  if (!isNull(networksNode)) {
    for (const [k, e] of asMap(networksNode!, "networks").entries) {
      if (!k.startsWith("x-")) declared.set(k, { node: e.value, keyPos: e.keyPos });
    }
  }

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

  return {
    stack,
    networks: [...networks.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)),
    services: services.map((s) => s.plan),
    notApplied: [...loader.notApplied].sort(),
    warnings: loader.warnings,
  };
}
