// Sockets inside a sandbox's network namespace for a server outside it. A
// Node process cannot switch namespaces, but a socket stays in the namespace
// it was created in whichever process holds it: so a short-lived child is
// started in the namespace (nsenter), binds 127.0.0.11:53 over UDP and TCP
// there, and passes both handles back over its IPC channel (SCM_RIGHTS under
// the hood). The server then serves every sandbox from one process.
import { spawn } from "node:child_process";
import type dgram from "node:dgram";
import { stat } from "node:fs/promises";
import type net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { SandboxSockets } from "./server.ts";

const CHILD = fileURLToPath(new URL("./netns-sockets-child.ts", import.meta.url));

// Each child is a whole Node process (~45 MB, ~40 ms of CPU): an agent
// (re)starting with a hundred sandboxes must not start a hundred at once.
const MAX_CHILDREN = 4;
let running = 0;
const waiting: (() => void)[] = [];

async function acquire(): Promise<void> {
  if (running < MAX_CHILDREN) running++;
  else await new Promise<void>((go) => waiting.push(go));
}

/** Hands the slot to the next waiter, if any. */
function release(): void {
  const next = waiting.shift();
  if (next) next();
  else running--;
}

// Stripping the child's types costs more than the rest of its run (~60 ms
// and 15 MB for the stripper): Node's compile cache keeps the result, in
// Node's own default place, unless the caller chose one.
const childEnv = {
  ...process.env,
  NODE_COMPILE_CACHE: process.env["NODE_COMPILE_CACHE"] ?? join(tmpdir(), "node-compile-cache"),
};

export interface SandboxSocketOptions {
  /** Default 127.0.0.11, Docker's embedded DNS address. */
  address?: string;
  /** Default 53. */
  port?: number;
  /** Give up (and kill the child) after this long, not counting a wait for a free slot. Default 5000. */
  timeoutMs?: number;
}

/** Binds DNS sockets inside the network namespace at `netnsPath` (e.g. /run/netns/X). */
export async function openSandboxSockets(
  netnsPath: string,
  opts: SandboxSocketOptions = {},
): Promise<SandboxSockets> {
  const address = opts.address ?? "127.0.0.11";
  const port = opts.port ?? 53;
  const timeoutMs = opts.timeoutMs ?? 5000;
  const where = `${address}:${port} in ${netnsPath}`;
  try {
    await stat(netnsPath);
  } catch {
    throw new Error(`DNS sockets ${where}: network namespace not found`);
  }
  await acquire();
  try {
    return await bind(netnsPath, address, port, timeoutMs, where);
  } finally {
    release();
  }
}

function bind(
  netnsPath: string,
  address: string,
  port: number,
  timeoutMs: number,
  where: string,
): Promise<SandboxSockets> {
  const child = spawn(
    "nsenter",
    [
      `--net=${netnsPath}`,
      process.execPath,
      "--no-warnings",
      CHILD,
      address,
      String(port),
      String(timeoutMs),
    ],
    { stdio: ["ignore", "inherit", "pipe", "ipc"], env: childEnv },
  );
  let stderr = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (s: string) => {
    if (stderr.length < 2000) stderr += s;
  });
  return new Promise<SandboxSockets>((resolve, reject) => {
    let udp: dgram.Socket | undefined;
    let tcp: net.Server | undefined;
    let settled = false;
    const fail = (reason: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill("SIGKILL");
      udp?.close();
      tcp?.close();
      reject(new Error(`DNS sockets ${where}: ${reason}`));
    };
    const timer = setTimeout(() => fail(`no sockets after ${timeoutMs} ms`), timeoutMs);
    child.on("error", (err) => fail(`cannot start nsenter: ${err.message}`));
    child.on("message", (msg: { socket?: string; error?: string }, handle: unknown) => {
      if (msg.error) return fail(msg.error);
      if (settled) {
        // Too late (timed out): nobody will serve it.
        (handle as { close?: () => void } | undefined)?.close?.();
        return;
      }
      if (msg.socket === "udp") udp = handle as dgram.Socket;
      else if (msg.socket === "tcp") tcp = handle as net.Server;
      if (udp && tcp) {
        settled = true;
        clearTimeout(timer);
        resolve({ udp, tcp });
      }
    });
    child.on("exit", (code, signal) => {
      // A clean exit means both handles were sent: they are on their way
      // (a received handle is set up asynchronously) and the timer still
      // guards. Otherwise let a queued { error } message speak first.
      if (code === 0) return;
      setTimeout(
        () => fail(stderr.trim() || `helper exited (${signal ?? `code ${code}`}) without sockets`),
        100,
      );
    });
  });
}
