// A minimal router: method + path pattern (":name" segments) to a handler.
// Errors thrown by handlers become JSON bodies `{"message": ...}` with the
// status the error code maps to, in one place.
import type { IncomingMessage, ServerResponse } from "node:http";
import { HTTP_STATUS, invalid, isSwarmnetError } from "../../core/errors.ts";

export interface Request {
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
  raw: IncomingMessage;
}

export type Reply = { status?: number; body?: unknown } | undefined;
export type Handler = (
  req: Request,
  res: ServerResponse,
) => Promise<Reply | "streaming"> | Reply | "streaming";

interface Route {
  method: string;
  parts: string[];
  handler: Handler;
}

export const MAX_BODY_BYTES = 4 * 1024 * 1024;

export class Router {
  private readonly routes: Route[] = [];

  on(method: string, pattern: string, handler: Handler): this {
    this.routes.push({ method, parts: pattern.split("/").filter(Boolean), handler });
    return this;
  }

  private match(
    method: string,
    path: string,
  ): { route?: Route; params: Record<string, string>; pathKnown: boolean } {
    const segments = path.split("/").filter(Boolean).map(decodeURIComponent);
    let pathKnown = false;
    for (const route of this.routes) {
      if (route.parts.length !== segments.length) continue;
      const params: Record<string, string> = {};
      const ok = route.parts.every((p, i) => {
        if (p.startsWith(":")) {
          params[p.slice(1)] = segments[i]!;
          return true;
        }
        return p === segments[i];
      });
      if (!ok) continue;
      pathKnown = true;
      if (route.method === method) return { route, params, pathKnown };
    }
    return { params: {}, pathKnown };
  }

  async handle(raw: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(raw.url ?? "/", "http://swarmnet");
      const { route, params, pathKnown } = this.match(raw.method ?? "GET", url.pathname);
      if (!route) {
        const status = pathKnown ? 405 : 404;
        sendJson(res, status, {
          message: pathKnown ? "method not allowed" : `page not found: ${url.pathname}`,
        });
        return;
      }
      const body = await readBody(raw);
      const reply = await route.handler(
        {
          method: raw.method ?? "GET",
          path: url.pathname,
          params,
          query: url.searchParams,
          body,
          raw,
        },
        res,
      );
      if (reply === "streaming") return;
      const status = reply?.status ?? 200;
      if (reply?.body === undefined) {
        res.writeHead(status === 200 ? 204 : status).end();
      } else {
        sendJson(res, status, reply.body);
      }
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (isSwarmnetError(err)) {
        sendJson(res, HTTP_STATUS[err.code], { message: err.message, code: err.code });
      } else {
        console.error("internal error:", err);
        sendJson(res, 500, {
          message: `internal error: ${(err as Error).message}`,
          code: "INTERNAL",
        });
      }
    }
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  if (req.method === "GET" || req.method === "HEAD" || req.method === "DELETE") {
    req.resume();
    return undefined;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw invalid("request body too large");
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw invalid("the request body is not valid JSON");
  }
}
