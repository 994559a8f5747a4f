// The swarmnet command line: global flags, then the command's words, then
// its flags. Every error ends as one line on stderr and a non-zero exit.
import { isSwarmnetError } from "../core/errors.ts";
import { DEFAULT_HOST, parseHost } from "../core/host-url.ts";
import { defaultHost } from "../lab/host.ts";
import { VERSION } from "../version.ts";
import { ApiError, Client } from "./client.ts";
import { LAB_COMMANDS } from "./commands/lab.ts";
import { networkCreate, networkInspect, networkLs, networkRm } from "./commands/network.ts";
import { nodeInspect, nodeLs, nodeRm, nodeUpdate } from "./commands/node.ts";
import { POLICY_COMMANDS } from "./commands/policy.ts";
import { exec, networkConnect, networkDisconnect, rm, run, serviceLogs } from "./commands/run.ts";
import {
  serviceCreate,
  serviceInspect,
  serviceLs,
  servicePs,
  serviceRm,
  serviceScale,
  serviceUpdate,
} from "./commands/service.ts";
import { STACK_COMMANDS } from "./commands/stack.ts";
import { daemon, init, join, joinToken, leave } from "./commands/swarm.ts";
import type { Command, Ctx } from "./context.ts";
import { parseFlags, usage } from "./flags.ts";

const COMMANDS: Command[] = [
  daemon,
  init,
  join,
  leave,
  joinToken,
  nodeLs,
  nodeInspect,
  nodeUpdate,
  nodeRm,
  networkCreate,
  networkLs,
  networkInspect,
  networkRm,
  serviceCreate,
  serviceLs,
  servicePs,
  serviceInspect,
  serviceScale,
  serviceUpdate,
  serviceRm,
  serviceLogs,
  networkConnect,
  networkDisconnect,
  run,
  rm,
  exec,
  ...LAB_COMMANDS,
  ...POLICY_COMMANDS,
  ...STACK_COMMANDS,
];

/** Commands that start a daemon on the address they are given (or the
 * default) instead of looking for one: the lab fallback never applies to them. */
const STARTS_DAEMON = new Set(["daemon", "init", "join"]);

/** Docker's aliases: `network list`, `service remove`, ... */
const ALIASES: Record<string, string> = { list: "ls", remove: "rm" };

function topUsage(): string {
  const rows = COMMANDS.map((c) => `  ${c.name.padEnd(18)}${c.summary}`);
  return `Usage:  swarmnet [-H URL] COMMAND\n\nDocker Swarm-style container networking, with network policies.\n\nCommands:\n${rows.join("\n")}\n\nGlobal options:\n  -H, --host string   Daemon socket to connect to (env SWARMNET_HOST, default ${DEFAULT_HOST})\n  -v, --version       Print version information and quit\n`;
}

export async function main(
  argv: string[],
  io: { out: (s: string) => void; err: (s: string) => void },
): Promise<number> {
  let hostText: string | undefined = process.env.SWARMNET_HOST || undefined;
  const args = [...argv];
  // Global flags come before the command words (as with `docker -H`); `--host` after them works too.
  while (args[0]?.startsWith("-")) {
    const a = args.shift()!;
    if (a === "-H" || a === "--host") {
      if (!args.length) throw new ApiError(0, "USAGE", "flag needs an argument: --host");
      hostText = args.shift()!;
    } else if (a.startsWith("--host=")) hostText = a.slice(7);
    else if (a === "-v" || a === "--version") {
      io.out(`swarmnet version ${VERSION}`);
      return 0;
    } else if (a === "-h" || a === "--help") {
      io.out(topUsage());
      return 0;
    } else {
      io.err(`unknown flag: ${a} (see 'swarmnet --help')`);
      return 1;
    }
  }
  if (args.length === 0 || args[0] === "help") {
    io.out(topUsage());
    return args.length === 0 ? 1 : 0;
  }
  const words = args.slice(0, 2).map((w) => ALIASES[w] ?? w);
  const command =
    COMMANDS.find((c) => c.name === words.join(" ")) ?? COMMANDS.find((c) => c.name === words[0]);
  if (!command) {
    const group = COMMANDS.filter((c) => c.name.startsWith(`${args[0]} `));
    if (group.length && args.length >= 1) {
      io.err(
        args.length === 1
          ? `"swarmnet ${args[0]}" requires a subcommand: ${group.map((c) => c.name.split(" ")[1]).join(", ")}`
          : `unknown command "${args[1]}" for "swarmnet ${args[0]}"`,
      );
    } else io.err(`unknown command "${args[0]}" (see 'swarmnet --help')`);
    return 1;
  }
  const rest = args.slice(command.name.split(" ").length);
  // --host may also follow the command words.
  const hostSpec = {
    name: "host",
    short: "H",
    kind: "string" as const,
    help: "Daemon socket to connect to",
  };
  const parsed = parseFlags(
    rest,
    [...command.flags, hostSpec],
    command.name,
    command.interspersed ?? true,
  );
  if (parsed.flags.help) {
    io.out(usage(command.name, command.synopsis, command.flags));
    return 0;
  }
  if (typeof parsed.flags.host === "string") hostText = parsed.flags.host;
  // Neither -H nor SWARMNET_HOST: the default socket, or a lab's manager when
  // one is recorded on this machine and the default does not answer.
  hostText ??= STARTS_DAEMON.has(command.name) ? DEFAULT_HOST : await defaultHost(DEFAULT_HOST);
  const ctx: Ctx = {
    client: new Client(parseHost(hostText)),
    hostText,
    out: io.out,
    err: io.err,
    isTty: process.stderr.isTTY === true,
  };
  return (await command.run(ctx, parsed)) ?? 0;
}

function describe(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 0) return err.message;
    return `Error response from daemon: ${err.message}`;
  }
  if (isSwarmnetError(err)) return err.message;
  return err instanceof Error ? err.message : String(err);
}

if (import.meta.main) {
  // `swarmnet ... | head` closes the pipe early: that is not an error.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });
  const io = {
    out: (s: string) => process.stdout.write(`${s}\n`),
    err: (s: string) => process.stderr.write(`${s}\n`),
  };
  main(process.argv.slice(2), io).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      io.err(describe(err));
      process.exitCode = 1;
    },
  );
}
