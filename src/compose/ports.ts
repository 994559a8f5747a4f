// Port numbers of a service: `ports` (short and long syntax) and `expose`.
import type { PortConfig } from "../core/model.ts";
import { parsePortNumber, parseProtocol, parsePublishMode } from "../core/ports.ts";
import type { Position } from "./errors.ts";
import { PORT_KEYS, PORT_READ } from "./keys.ts";
import { at, fail, isNull, type Loader, str, uint } from "./reader.ts";
import type { CNode } from "./tree.ts";

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

/** `ports`: short syntax strings and long syntax mappings, mixed. */
export function ports(loader: Loader, node: CNode, path: string): PortConfig[] {
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

/** `expose`: ports (or ranges) the service listens on without publishing them; sorted, unique. */
export function expose(node: CNode, path: string): number[] {
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
