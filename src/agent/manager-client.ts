// How a node talks to its manager's control port: JSON requests and the
// newline-delimited view stream, over TLS with the options the PKI gives
// (bootstrap, join, or mutual TLS with the node's certificate).
import { request } from "node:https";
import type { ConnectionOptions } from "node:tls";

export class ControlError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = "ControlError";
    this.status = status;
  }
}

export function splitAddr(addr: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(addr);
  const host = m?.[1];
  if (!host) throw new ControlError(0, `invalid manager address "${addr}": expected HOST:PORT`);
  return { host: host.replace(/^\[|\]$/g, ""), port: Number(m[2]) };
}

export function controlCall<T>(
  addr: string,
  tls: ConnectionOptions,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 10_000,
): Promise<T> {
  const { host, port } = splitAddr(addr);
  const text = body === undefined ? undefined : JSON.stringify(body);
  return new Promise<T>((resolve, reject) => {
    const req = request(
      {
        ...tls,
        host,
        port,
        method,
        path,
        headers: text ? { "content-type": "application/json" } : {},
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const raw = Buffer.concat(chunks).toString("utf8");
          let parsed: unknown;
          try {
            parsed = raw ? JSON.parse(raw) : undefined;
          } catch {
            parsed = undefined;
          }
          const status = res.statusCode ?? 0;
          if (status >= 400) {
            reject(
              new ControlError(
                status,
                (parsed as { message?: string })?.message ?? `HTTP ${status}`,
              ),
            );
          } else resolve(parsed as T);
        });
      },
    );
    req.on("timeout", () =>
      req.destroy(new ControlError(0, `the manager at ${addr} did not answer in time`)),
    );
    req.on("error", (err) =>
      reject(
        err instanceof ControlError
          ? err
          : new ControlError(0, `cannot reach the manager at ${addr}: ${err.message}`),
      ),
    );
    req.end(text);
  });
}

/** Opens the view stream; calls onView per line until the stream ends (resolve) or fails (reject). */
export function controlStream(
  addr: string,
  tls: ConnectionOptions,
  path: string,
  onView: (view: unknown) => void,
  signal: AbortSignal,
): Promise<void> {
  const { host, port } = splitAddr(addr);
  return new Promise<void>((resolve, reject) => {
    const req = request({ ...tls, host, port, method: "GET", path, signal }, (res) => {
      if ((res.statusCode ?? 0) >= 400) {
        reject(
          new ControlError(
            res.statusCode ?? 0,
            `the manager refused the view stream (HTTP ${res.statusCode})`,
          ),
        );
        res.resume();
        return;
      }
      let buffer = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        buffer += chunk;
        let nl = buffer.indexOf("\n");
        while (nl >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          if (line) onView(JSON.parse(line));
          nl = buffer.indexOf("\n");
        }
      });
      res.on("end", () => resolve());
      res.on("error", reject);
    });
    req.on("error", (err) => (signal.aborted ? resolve() : reject(err)));
    req.end();
  });
}
