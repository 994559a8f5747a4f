// Cluster lifecycle: daemon, init, join, leave, join-token.
import { spawn } from "node:child_process";
import { mkdirSync, openSync } from "node:fs";
import { join as joinPath } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { dnsUpstreamFlag } from "../../core/dns-upstream.ts";
import { invalid } from "../../core/errors.ts";
import { checkDockerHost, DEFAULT_DATA_DIR, parseHost } from "../../core/host-url.ts";
import type { Cluster } from "../../core/model.ts";
import type { Command, Ctx } from "../context.ts";

const DATA_DIR_FLAG = {
  name: "data-dir",
  kind: "string",
  help: `State directory (default ${DEFAULT_DATA_DIR})`,
} as const;

/** Kept by the node (DATA_DIR/node.json) until a flag says otherwise. */
const DNS_UPSTREAM_FLAG = {
  name: "dns-upstream",
  kind: "list",
  help: "Resolver IP[:PORT] the node's DNS forwards other names to (repeatable, or \"none\"; default: the host's /etc/resolv.conf)",
} as const;

/** The flag's list: undefined when not given (the node keeps its setting), [] for "none". */
function dnsUpstreams(args: { flags: Record<string, unknown> }): string[] | undefined {
  return dnsUpstreamFlag(args.flags["dns-upstream"] as string[]);
}

export const daemon: Command = {
  name: "daemon",
  synopsis:
    "[--data-dir DIR] [--host URL] [--dns-upstream IP[:PORT]...] [--docker-host URL [--docker-tlsverify ...]]",
  summary: "Run the swarmnet daemon in the foreground",
  flags: [
    DATA_DIR_FLAG,
    DNS_UPSTREAM_FLAG,
    {
      name: "docker-host",
      kind: "string",
      help: "Where the Docker-compatible API listens (default unix://DATA_DIR/docker.sock; tcp:// on loopback, or anywhere with --docker-tlsverify)",
    },
    {
      name: "docker-tlsverify",
      kind: "bool",
      help: "Serve the Docker API over TLS and require client certificates signed by --docker-tlscacert",
    },
    {
      name: "docker-tlscacert",
      kind: "string",
      help: "CA that signs the Docker API's client certificates (PEM)",
    },
    { name: "docker-tlscert", kind: "string", help: "The Docker API's server certificate (PEM)" },
    { name: "docker-tlskey", kind: "string", help: "The Docker API's server key (PEM)" },
  ],
  async run(ctx, args) {
    const upstreams = dnsUpstreams(args);
    const f = args.flags;
    const dockerHost =
      f["docker-host"] === undefined ? undefined : parseHost(f["docker-host"] as string);
    let dockerTls: { ca: string; cert: string; key: string } | undefined;
    if (f["docker-tlsverify"] === true) {
      const need = (name: string) => {
        const v = f[name] as string | undefined;
        if (!v) throw invalid(`--docker-tlsverify needs --${name}`);
        return v;
      };
      dockerTls = {
        ca: need("docker-tlscacert"),
        cert: need("docker-tlscert"),
        key: need("docker-tlskey"),
      };
    } else if (f["docker-tlscacert"] || f["docker-tlscert"] || f["docker-tlskey"]) {
      throw invalid(
        "--docker-tlscacert, --docker-tlscert and --docker-tlskey need --docker-tlsverify",
      );
    }
    if (dockerHost) checkDockerHost(dockerHost, dockerTls !== undefined);
    // Loaded here, not at the top: the manager and store are half of the CLI's
    // start-up time, and every other command only talks HTTP.
    const { startDaemon } = await import("../../daemon/daemon.ts");
    const running = await startDaemon({
      dataDir: (args.flags["data-dir"] as string | undefined) ?? DEFAULT_DATA_DIR,
      host: parseHost(ctx.hostText),
      dnsUpstreams: upstreams,
      ...(dockerHost && { dockerHost }),
      ...(dockerTls && { dockerTls }),
    });
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once("SIGTERM", stop);
      process.once("SIGINT", stop);
    });
    await running.close();
    return 0;
  },
};

/** Starts `swarmnet daemon` detached, logging to DIR/daemon.log, and waits until it answers. */
async function startBackgroundDaemon(ctx: Ctx, dataDir: string): Promise<void> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const logPath = joinPath(dataDir, "daemon.log");
  const log = openSync(logPath, "a");
  const main = fileURLToPath(new URL("../main.ts", import.meta.url));
  const child = spawn(
    process.execPath,
    [
      "--disable-warning=ExperimentalWarning",
      main,
      "daemon",
      "--data-dir",
      dataDir,
      "--host",
      ctx.hostText,
    ],
    { detached: true, stdio: ["ignore", log, log] },
  );
  let exited: number | null = null;
  child.once("exit", (code) => (exited = code ?? 1));
  child.unref();
  for (let i = 0; i < 200; i++) {
    if (exited !== null)
      throw new Error(`the swarmnet daemon exited at start (code ${exited}); see ${logPath}`);
    if (await ctx.client.ping()) return;
    await sleep(50);
  }
  throw new Error(
    `the swarmnet daemon did not answer on ${ctx.hostText} within 10 s; see ${logPath}`,
  );
}

/** Starts a daemon in the background when none answers (as `init` and `join` do). */
async function ensureDaemon(ctx: Ctx, dataDir: string | undefined): Promise<void> {
  if (await ctx.client.ping()) return;
  if (
    ctx.client.host.kind === "tcp" &&
    !["127.0.0.1", "localhost", "::1"].includes(ctx.client.host.host)
  ) {
    throw invalid(
      `no daemon answers on ${ctx.hostText}, and swarmnet only starts one itself on a unix socket or loopback`,
    );
  }
  await startBackgroundDaemon(ctx, dataDir ?? DEFAULT_DATA_DIR);
}

export const join: Command = {
  name: "join",
  synopsis: "--token TOKEN [OPTIONS] HOST:PORT",
  summary: "Join a swarm as a node",
  flags: [
    { name: "token", kind: "string", help: "Token for entry into the swarm" },
    { name: "advertise-addr", kind: "string", help: "Address other nodes reach this node at" },
    { name: "data-path-addr", kind: "string", help: "Address used for data-path (VXLAN) traffic" },
    DNS_UPSTREAM_FLAG,
    DATA_DIR_FLAG,
  ],
  async run(ctx, args) {
    if (args.positionals.length !== 1)
      throw invalid(`"swarmnet join" requires exactly 1 argument (the manager's HOST:PORT)`);
    const token = args.flags.token;
    if (typeof token !== "string" || token === "")
      throw invalid("a join token is required: --token TOKEN");
    const upstreams = dnsUpstreams(args);
    await ensureDaemon(ctx, args.flags["data-dir"] as string | undefined);
    await ctx.client.call("POST", "/v1/swarm/join", {
      token,
      remoteAddr: args.positionals[0],
      advertiseAddr: args.flags["advertise-addr"],
      dataPathAddr: args.flags["data-path-addr"],
      dnsUpstreams: upstreams,
    });
    ctx.out("This node joined a swarm as a worker.");
    return 0;
  },
};

export const init: Command = {
  name: "init",
  synopsis: "[OPTIONS]",
  summary: "Initialize a swarm: make this host the first manager",
  flags: [
    {
      name: "default-addr-pool",
      kind: "list",
      help: "Address pool overlay subnets are carved from (repeatable; default 10.0.0.0/8)",
    },
    {
      name: "default-addr-pool-mask-length",
      kind: "int",
      help: "Prefix length of each carved subnet (default 24)",
    },
    { name: "data-path-port", kind: "int", help: "UDP port for VXLAN data traffic (default 4789)" },
    { name: "advertise-addr", kind: "string", help: "Address other nodes reach this manager at" },
    { name: "data-path-addr", kind: "string", help: "Address used for data-path (VXLAN) traffic" },
    { name: "store", kind: "string", help: "Store URL (default: embedded, in --data-dir)" },
    DNS_UPSTREAM_FLAG,
    DATA_DIR_FLAG,
  ],
  async run(ctx, args) {
    const f = args.flags;
    if (args.positionals.length) throw invalid(`"swarmnet init" accepts no arguments`);
    if (f.store !== undefined && f.store !== "embedded") {
      throw invalid(
        `store "${String(f.store)}" is not supported yet: only the embedded store is available`,
      );
    }
    const pools = f["default-addr-pool"] as string[];
    const mask = f["default-addr-pool-mask-length"] as number | undefined;
    if (mask !== undefined && (mask < 1 || mask > 29)) {
      throw invalid(`invalid default address pool mask length ${mask}: must be between 1 and 29`);
    }
    const upstreams = dnsUpstreams(args);
    await ensureDaemon(ctx, f["data-dir"] as string | undefined);
    const { nodeId } = await ctx.client.call<{ nodeId: string }>("POST", "/v1/swarm/init", {
      defaultAddrPool: pools,
      subnetSize: mask,
      dataPathPort: f["data-path-port"],
      advertiseAddr: f["advertise-addr"],
      dataPathAddr: f["data-path-addr"],
      dnsUpstreams: upstreams,
    });
    ctx.out(`Swarm initialized: current node (${nodeId}) is now a manager.\n`);
    ctx.out(
      "To add a worker to this swarm, run 'swarmnet join-token worker' and follow the instructions.\n",
    );
    ctx.out(
      "To add a manager to this swarm, run 'swarmnet join-token manager' and follow the instructions.",
    );
    return 0;
  },
};

export const leave: Command = {
  name: "leave",
  synopsis: "[--force]",
  summary: "Leave the swarm",
  flags: [
    {
      name: "force",
      short: "f",
      kind: "bool",
      help: "Force this node to leave the swarm, ignoring warnings",
    },
  ],
  async run(ctx, args) {
    await ctx.client.call("POST", `/v1/swarm/leave?force=${args.flags.force === true}`);
    ctx.out("Node left the swarm.");
    return 0;
  },
};

export const joinToken: Command = {
  name: "join-token",
  synopsis: "worker|manager",
  summary: "Print the token that joins a node to the swarm",
  flags: [
    { name: "quiet", short: "q", kind: "bool", help: "Only display token" },
    { name: "rotate", kind: "bool", help: "Rotate join token (the old one stops working at once)" },
  ],
  async run(ctx, args) {
    const role = args.positionals[0];
    if (role !== "worker" && role !== "manager")
      throw invalid("unknown role: expected worker or manager");
    if (args.flags.rotate) {
      await ctx.client.call("POST", `/v1/swarm/rotate-token?role=${role}`);
      if (!args.flags.quiet) ctx.out(`Successfully rotated ${role} join token.\n`);
    }
    const cluster = await ctx.client.call<Cluster>("GET", "/v1/swarm");
    const token = cluster.joinTokens[role];
    if (args.flags.quiet) {
      ctx.out(token);
      return 0;
    }
    const info = await ctx.client.call<{ swarm: { nodeId: string } }>("GET", "/v1/info");
    const self = await ctx.client.call<{ advertiseAddr: string }>(
      "GET",
      `/v1/nodes/${info.swarm.nodeId}`,
    );
    ctx.out(
      `To add a ${role} to this swarm, run the following command:\n\n    swarmnet join --token ${token} ${self.advertiseAddr}:2377\n`,
    );
    return 0;
  },
};
