// The swarmnet daemon: opens the store in the data directory, loads the
// manager's state from it and serves the API. What `swarmnet daemon` runs in
// the foreground (and `swarmnet init` starts in the background).

import { readFileSync } from "node:fs";
import { chmod, mkdir, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { connect } from "node:net";
import { cpus, hostname, release, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { checkDockerHost, formatHost, type HostAddress } from "../core/host-url.ts";
import { Dispatcher } from "../manager/dispatcher.ts";
import { dockerApiHandler } from "../manager/docker/server.ts";
import { nativeRoutes } from "../manager/http/routes.ts";
import { Manager } from "../manager/manager.ts";
import { openEmbeddedStore } from "../store/embedded.ts";
import type { Store } from "../store/store.ts";
import { VERSION } from "../version.ts";
import { NodeRuntime } from "./node-runtime.ts";

export interface DaemonOptions {
  dataDir: string;
  host: HostAddress;
  log?: (line: string) => void;
  /** `daemon --dns-upstream` ("IP[:PORT]"; [] for none): replaces the node's stored setting. */
  dnsUpstreams?: string[];
  /** Where the default DNS upstreams are read (default /etc/resolv.conf). */
  resolvConf?: string;
  /** Where the Docker-compatible API answers (default: unix socket
   * `<dataDir>/docker.sock`). */
  dockerHost?: HostAddress;
  /** TLS for a TCP Docker API, client certificates required (dockerd's
   * --tlsverify): PEM file paths. Without it TCP is served on loopback only. */
  dockerTls?: DockerTls;
}

export interface DockerTls {
  ca: string;
  cert: string;
  key: string;
}

export interface RunningDaemon {
  manager: Manager;
  runtime: NodeRuntime;
  address: string;
  close(): Promise<void>;
}

export async function startDaemon(opts: DaemonOptions): Promise<RunningDaemon> {
  const log = opts.log ?? ((line: string) => console.error(`${new Date().toISOString()} ${line}`));
  if (opts.dockerHost) checkDockerHost(opts.dockerHost, opts.dockerTls !== undefined);
  await mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
  const store: Store = await openEmbeddedStore(join(opts.dataDir, "store"));
  const manager = new Manager(store);
  await manager.load();
  manager.events.on("fatal", (err: Error) => {
    log(
      `fatal: the store refused a write (${err.message}); exiting so a restart reloads consistent state`,
    );
    process.exit(70);
  });
  const dispatcher = new Dispatcher(manager);
  const runtime = new NodeRuntime({
    dataDir: opts.dataDir,
    manager,
    dispatcher,
    log,
    dnsUpstreams: opts.dnsUpstreams,
    resolvConf: opts.resolvConf,
  });
  const router = nativeRoutes(
    manager,
    dispatcher,
    { version: VERSION },
    {
      initialized: (nodeId, creds, dnsUpstreams) =>
        runtime.initialized(nodeId, creds, dnsUpstreams),
      join: (o) => runtime.join(o),
      leave: () => runtime.leave(),
      get membership() {
        return runtime.membership;
      },
      logs: runtime.logs,
      dns: () => runtime.dns(),
    },
  );
  const server = createServer((req, res) => void router.handle(req, res));
  const dockerHost: HostAddress = opts.dockerHost ?? {
    kind: "unix",
    path: join(opts.dataDir, "docker.sock"),
  };
  const dockerHandler = dockerApiHandler(manager, {
    version: VERSION,
    kernel: release(),
    cpus: cpus().length,
    memory: totalmem(),
    hostname: hostname(),
  });
  const dockerServer = dockerApiServer(dockerHost, opts.dockerTls, dockerHandler);
  // Written before the socket answers (the store lock makes the data dir ours): whoever
  // reaches the daemon, `swarmnet init` included, finds its pid already there.
  const pidFile = join(opts.dataDir, "daemon.pid");
  await writeFile(pidFile, `${process.pid}\n`);
  try {
    await listen(server, opts.host);
    try {
      await listen(dockerServer, dockerHost);
    } catch (err) {
      server.close();
      throw err;
    }
  } catch (err) {
    dispatcher.close();
    await rm(pidFile, { force: true });
    await store.close();
    throw err;
  }
  await runtime.resume();
  const address = formatHost(opts.host);
  log(
    `swarmnet ${VERSION} listening on ${address} (Docker API on ${formatHost(dockerHost)}), state in ${opts.dataDir}${manager.initialized ? " (swarm active)" : ""}`,
  );
  return {
    manager,
    runtime,
    address,
    async close() {
      await runtime.close();
      dispatcher.close();
      for (const [srv, host] of [
        [server, opts.host],
        [dockerServer, dockerHost],
      ] as const) {
        srv.closeAllConnections();
        await new Promise<void>((done) => srv.close(() => done()));
        if (host.kind === "unix") await rm(host.path, { force: true });
      }
      await rm(pidFile, { force: true });
      await store.close();
      log("swarmnet daemon stopped");
    },
  };
}

/** The Docker API's server: plain HTTP on a unix socket or on loopback;
 * anywhere else only with TLS and verified client certificates, as dockerd
 * --tlsverify (the Docker API can run anything a manager can). */
export function dockerApiServer(
  host: HostAddress,
  tls: DockerTls | undefined,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Server {
  checkDockerHost(host, tls !== undefined);
  if (tls) {
    return createHttpsServer(
      {
        ca: readFileSync(tls.ca),
        cert: readFileSync(tls.cert),
        key: readFileSync(tls.key),
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: "TLSv1.2",
      },
      handler,
    );
  }
  return createServer(handler);
}

async function listen(server: Server, host: HostAddress): Promise<void> {
  if (host.kind === "unix") {
    await mkdir(dirname(host.path), { recursive: true });
    if (await answers(host.path)) {
      throw new Error(`another daemon is already listening on unix://${host.path}`);
    }
    await rm(host.path, { force: true }); // a stale socket left by a daemon that died
  }
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    if (host.kind === "unix") server.listen(host.path, () => resolve());
    else server.listen(host.port, host.host, () => resolve());
  });
  if (host.kind === "unix") await chmod(host.path, 0o660);
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(path);
    sock.once("connect", () => {
      sock.destroy();
      resolve(true);
    });
    sock.once("error", () => resolve(false));
  });
}
