// The Docker-compatible API in front of its routes: the version prefix of
// every path ("/v1.47/networks" → "/networks", checked against the versions
// served), the headers the docker CLI negotiates with (`Api-Version` on
// every answer, `Swarm` on /_ping), and the two paths a route pattern cannot
// hold (/_ping answers HEAD too; an image name in /distribution has slashes).
import type { IncomingMessage, ServerResponse } from "node:http";
import { isSwarmnetError } from "../../core/errors.ts";
import { sendJson } from "../http/router.ts";
import type { Manager } from "../manager.ts";
import { type DockerInfo, distributionBody, dockerRoutes } from "./routes.ts";
import { MAX_API_VERSION, requestedVersion } from "./translate.ts";

export function dockerApiHandler(
  manager: Manager,
  info: DockerInfo,
): (req: IncomingMessage, res: ServerResponse) => void {
  const router = dockerRoutes(manager, info);
  return (req, res) => {
    res.setHeader("Api-Version", MAX_API_VERSION);
    res.setHeader("Docker-Experimental", "false");
    res.setHeader("Ostype", "linux");
    res.setHeader("Server", `swarmnet/${info.version} (linux)`);
    const url = new URL(req.url ?? "/", "http://docker");
    let rest: string;
    try {
      rest = requestedVersion(url.pathname).rest;
    } catch (err) {
      if (!isSwarmnetError(err)) throw err;
      req.resume();
      sendJson(res, 400, { message: err.message });
      return;
    }
    if (rest === "/_ping" && (req.method === "GET" || req.method === "HEAD")) {
      req.resume();
      const role = manager.initialized
        ? manager.state.get("nodes", manager.selfNodeId)?.role === "manager"
          ? "active/manager"
          : "active/worker"
        : "inactive";
      res.writeHead(200, {
        "Content-Type": "text/plain; charset=utf-8",
        "Cache-Control": "no-cache, no-store, must-revalidate",
        Pragma: "no-cache",
        Swarm: role,
        "Content-Length": 2,
      });
      res.end(req.method === "HEAD" ? undefined : "OK");
      return;
    }
    const distribution = /^\/distribution\/(.+)\/json$/.exec(rest);
    if (distribution && req.method === "GET") {
      req.resume();
      sendJson(res, 200, distributionBody(decodeURIComponent(distribution[1]!)));
      return;
    }
    req.url = `${rest}${url.search}`;
    void router.handle(req, res);
  };
}
