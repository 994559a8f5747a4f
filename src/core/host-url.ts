// Where the daemon listens and the CLI connects, as DOCKER_HOST spells it:
// unix:///path/to.sock or tcp://host:port.
import { invalid } from "./errors.ts";

export type HostAddress =
  | { kind: "unix"; path: string }
  | { kind: "tcp"; host: string; port: number };

export const DEFAULT_HOST = "unix:///run/swarmnet/swarmnet.sock";
export const DEFAULT_DATA_DIR = "/var/lib/swarmnet";

export function parseHost(text: string): HostAddress {
  if (text.startsWith("unix://")) {
    const path = text.slice("unix://".length);
    if (!path.startsWith("/"))
      throw invalid(`invalid host "${text}": a unix socket path must be absolute`);
    return { kind: "unix", path };
  }
  if (text.startsWith("tcp://")) {
    const m = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d+)\/?$/.exec(text);
    const port = Number(m?.[2]);
    if (!m || port < 1 || port > 65535)
      throw invalid(`invalid host "${text}": expected tcp://HOST:PORT`);
    return { kind: "tcp", host: m[1]!.replace(/^\[|\]$/g, ""), port };
  }
  throw invalid(`invalid host "${text}": expected unix:///PATH or tcp://HOST:PORT`);
}

export function formatHost(h: HostAddress): string {
  return h.kind === "unix"
    ? `unix://${h.path}`
    : `tcp://${h.host.includes(":") ? `[${h.host}]` : h.host}:${h.port}`;
}

/** Refuses a Docker API address that would be served without protection:
 * TCP off loopback needs TLS with client certificates (dockerd's
 * --tlsverify); the Docker API can run anything a manager can. */
export function checkDockerHost(host: HostAddress, tls: boolean): void {
  if (tls && host.kind !== "tcp") throw invalid("--docker-tlsverify needs a tcp:// Docker host");
  if (!tls && host.kind === "tcp" && !isLoopback(host.host)) {
    throw invalid(
      `refusing to serve the Docker API unencrypted on ${host.host}: use a loopback address, or --docker-tlsverify with --docker-tlscacert, --docker-tlscert and --docker-tlskey`,
    );
  }
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}
