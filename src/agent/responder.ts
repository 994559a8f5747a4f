// swarmnet's built-in responder: what a service with no command runs. It
// listens on every target port of its service (TCP and UDP) and answers each
// HTTP request, each line on a plain TCP connection, and each UDP datagram
// with one line naming who answered — so tests, demos and deployed stacks can
// see which task, service, stack and node a packet reached.
import { createSocket, type Socket } from "node:dgram";
import { createServer, type Server } from "node:net";

export interface ResponderIdentity {
  task: string;
  service: string;
  stack: string;
  node: string;
}

export interface ResponderPort {
  port: number;
  protocol: "tcp" | "udp";
}

export function identityLine(id: ResponderIdentity): string {
  return `task=${id.task} service=${id.service} stack=${id.stack || "default"} node=${id.node}`;
}

const HTTP_METHOD =
  /^(GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH|CONNECT|TRACE) \S+ HTTP\/1\.[01]\r?\n/;

/** Answers what arrived on one TCP connection; returns the unconsumed rest. */
function answerTcp(
  buffer: string,
  line: string,
  write: (s: string) => void,
): { rest: string; close: boolean } {
  let rest = buffer;
  for (;;) {
    if (HTTP_METHOD.test(rest)) {
      const end =
        rest.indexOf("\r\n\r\n") >= 0
          ? rest.indexOf("\r\n\r\n") + 4
          : rest.indexOf("\n\n") >= 0
            ? rest.indexOf("\n\n") + 2
            : -1;
      if (end < 0) return { rest, close: false };
      const head = rest.slice(0, end);
      rest = rest.slice(end);
      const body = `${line}\n`;
      const isHead = head.startsWith("HEAD ");
      const close = /^connection:\s*close/im.test(head) || /HTTP\/1\.0/.test(head.split("\n")[0]!);
      write(
        `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
          `connection: ${close ? "close" : "keep-alive"}\r\n\r\n${isHead ? "" : body}`,
      );
      if (close) return { rest: "", close: true };
      continue;
    }
    const nl = rest.indexOf("\n");
    if (nl < 0) return { rest, close: false };
    rest = rest.slice(nl + 1);
    write(`${line}\n`);
  }
}

export interface RunningResponder {
  /** Bound ports (useful when asked for port 0). */
  ports: ResponderPort[];
  close(): Promise<void>;
}

function peer(address: string | undefined): string {
  return (address ?? "?").replace(/^::ffff:/, "");
}

export async function startResponder(opts: {
  identity: ResponderIdentity;
  ports: ResponderPort[];
  host?: string;
}): Promise<RunningResponder> {
  const line = identityLine(opts.identity);
  const host = opts.host ?? "0.0.0.0";
  const servers: (Server | Socket)[] = [];
  const bound: ResponderPort[] = [];
  for (const p of opts.ports) {
    if (p.protocol === "tcp") {
      const server = createServer((sock) => {
        // Who called, as this task sees it: through a VIP it is still the caller's own address.
        const answer = `${line} from=${peer(sock.remoteAddress)}`;
        let buffer = "";
        sock.setEncoding("utf8");
        sock.on("data", (chunk: string) => {
          const r = answerTcp(buffer + chunk, answer, (s) => sock.write(s));
          buffer = r.rest.length > 65536 ? "" : r.rest;
          if (r.close) sock.end();
        });
        sock.on("error", () => sock.destroy());
      });
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(p.port, host, () => resolve());
      });
      const addr = server.address();
      bound.push({ port: typeof addr === "object" && addr ? addr.port : p.port, protocol: "tcp" });
      servers.push(server);
    } else {
      const sock = createSocket("udp4");
      sock.on("message", (_msg, rinfo) =>
        sock.send(`${line} from=${peer(rinfo.address)}\n`, rinfo.port, rinfo.address),
      );
      await new Promise<void>((resolve, reject) => {
        sock.once("error", reject);
        sock.bind(p.port, host, () => resolve());
      });
      bound.push({ port: sock.address().port, protocol: "udp" });
      servers.push(sock);
    }
  }
  return {
    ports: bound,
    async close() {
      await Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              if ("listen" in s) (s as Server).close(() => resolve());
              else (s as Socket).close(() => resolve());
            }),
        ),
      );
    },
  };
}

/**
 * The ports a service's responder listens on: every target (and exposed) port,
 * on TCP and UDP both — so a test can use either protocol whatever the port
 * was published as — or 80 when the service has none.
 */
export function responderPorts(
  targets: { targetPort: number }[],
  expose: number[] = [],
): ResponderPort[] {
  const numbers = new Set([...targets.map((t) => t.targetPort), ...expose]);
  if (numbers.size === 0) numbers.add(80);
  return [...numbers]
    .sort((a, b) => a - b)
    .flatMap((port) => [
      { port, protocol: "tcp" as const },
      { port, protocol: "udp" as const },
    ]);
}
