// The CLI's only way to the daemon: JSON over HTTP on the unix socket or TCP
// address that -H / SWARMNET_HOST / the default names. API errors arrive as
// `{"message"}` bodies and become ApiError with the daemon's words.
import { request } from "node:http";
import { formatHost, type HostAddress } from "../core/host-url.ts";

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

export class Client {
  readonly host: HostAddress;
  constructor(host: HostAddress) {
    this.host = host;
  }

  private target(path: string) {
    return this.host.kind === "unix"
      ? { socketPath: this.host.path, path }
      : { host: this.host.host, port: this.host.port, path };
  }

  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const req = request(
        {
          ...this.target(path),
          method,
          headers:
            text === undefined
              ? {}
              : { "content-type": "application/json", "content-length": Buffer.byteLength(text) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const raw = Buffer.concat(chunks).toString("utf8");
            let parsed: unknown;
            try {
              parsed = raw === "" ? undefined : JSON.parse(raw);
            } catch {
              parsed = undefined;
            }
            const status = res.statusCode ?? 0;
            if (status >= 400) {
              const err = parsed as { message?: string; code?: string } | undefined;
              reject(
                new ApiError(status, err?.code ?? "", err?.message ?? (raw || `HTTP ${status}`)),
              );
            } else resolve(parsed as T);
          });
        },
      );
      req.on("error", (err: NodeJS.ErrnoException) => {
        if (["ECONNREFUSED", "ENOENT", "EACCES", "ECONNRESET"].includes(err.code ?? "")) {
          reject(
            new ApiError(
              0,
              "UNREACHABLE",
              `Cannot connect to the swarmnet daemon at ${formatHost(this.host)}. Is the swarmnet daemon running?`,
            ),
          );
        } else reject(err);
      });
      req.end(text);
    });
  }

  async ping(): Promise<boolean> {
    try {
      await this.call("GET", "/v1/ping");
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.code === "UNREACHABLE") return false;
      throw err;
    }
  }
}
