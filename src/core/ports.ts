// Published-port syntax, as `docker service create -p` takes it: the short
// form `[PUB:]TGT[/proto]` and the long form `published=P,target=T,protocol=udp,mode=host`.
import { invalid } from "./errors.ts";
import type { PortConfig, Protocol, PublishMode } from "./model.ts";

export const DYNAMIC_PORT_RANGE = { min: 30000, max: 32767 } as const;

export function parsePortNumber(text: string, what: string): number {
  if (!/^\d+$/.test(text)) throw invalid(`invalid ${what}: ${text}`);
  const n = Number(text);
  if (n < 1 || n > 65535) throw invalid(`invalid ${what}: ${text} (must be between 1 and 65535)`);
  return n;
}

export function parseProtocol(text: string): Protocol {
  const p = text.toLowerCase();
  if (p === "tcp" || p === "udp" || p === "sctp") return p;
  throw invalid(`invalid protocol: ${text} (expected tcp, udp or sctp)`);
}

export function parsePublishMode(text: string): PublishMode {
  if (text === "ingress" || text === "host") return text;
  throw invalid(`invalid publish mode value (${text}): must be either "ingress" or "host"`);
}

/** Parses one `-p` value; returns one config (ranges are not supported). */
export function parsePortFlag(text: string): PortConfig {
  if (text.includes("=")) return parseLongPort(text);
  const [ports = "", proto = "tcp", ...rest] = text.split("/");
  if (rest.length > 0 || ports === "") throw invalid(`invalid port format: ${text}`);
  const parts = ports.split(":");
  if (parts.length > 2)
    throw invalid(`invalid port format: ${text} (expected [PUBLISHED:]TARGET[/PROTOCOL])`);
  const target = parsePortNumber(parts[parts.length - 1]!, "containerPort");
  const published = parts.length === 2 ? parsePortNumber(parts[0]!, "hostPort") : 0;
  return {
    protocol: parseProtocol(proto),
    targetPort: target,
    publishedPort: published,
    publishMode: "ingress",
  };
}

function parseLongPort(text: string): PortConfig {
  const port: PortConfig = {
    protocol: "tcp",
    targetPort: 0,
    publishedPort: 0,
    publishMode: "ingress",
  };
  for (const field of text.split(",")) {
    const eq = field.indexOf("=");
    if (eq < 0) throw invalid(`invalid field '${field}' must be a key=value pair`);
    const key = field.slice(0, eq).trim().toLowerCase();
    const value = field.slice(eq + 1).trim();
    switch (key) {
      case "protocol":
        port.protocol = parseProtocol(value);
        break;
      case "mode":
        port.publishMode = parsePublishMode(value);
        break;
      case "target":
        port.targetPort = parsePortNumber(value, "target port");
        break;
      case "published":
        port.publishedPort = parsePortNumber(value, "published port");
        break;
      default:
        throw invalid(`invalid field key ${key}`);
    }
  }
  if (port.targetPort === 0) throw invalid(`missing mandatory field "target"`);
  return port;
}

export function formatPort(p: PortConfig): string {
  const pub = p.publishedPort ? String(p.publishedPort) : "";
  return p.publishMode === "host"
    ? `${pub}:${p.targetPort}/${p.protocol} (host)`
    : `*:${pub}->${p.targetPort}/${p.protocol}`;
}

/** Container label: extra ports ("8080,9000") the responder listens on
 * besides the service's target ports (a compose file's `expose`). */
export const RESPONDER_EXPOSE_LABEL = "io.swarmnet.responder.expose";

/** The ports in a RESPONDER_EXPOSE_LABEL value; anything else is ignored. */
export function exposedPorts(label: string | undefined): number[] {
  if (!label) return [];
  return label
    .split(",")
    .map((p) => Number(p.trim()))
    .filter((p) => Number.isInteger(p) && p >= 1 && p <= 65535);
}
