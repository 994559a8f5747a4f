// Helpers for the root tests: simulated hosts (namespaces on a veth underlay,
// 198.18.0.0/15, nothing routes out) and real traffic between sandboxes. Every
// name starts with the caller's unique prefix so runs never collide and
// teardown can prove it left nothing behind.
import { spawn } from "node:child_process";
import { isDataplaneError } from "../errors.ts";
import { run, splitJson } from "./exec.ts";

/** Two hosts joined by one veth pair: `${prefix}h1` 198.18.0.1, `${prefix}h2` 198.18.0.2. */
export async function makeHosts(prefix: string): Promise<[string, string]> {
  const h1 = `${prefix}h1`;
  const h2 = `${prefix}h2`;
  await run(["ip", "-batch", "-"], `netns add ${h1}\nnetns add ${h2}\n`);
  await run(
    ["ip", "-n", h1, "-batch", "-"],
    `link set lo up\nlink add u0 type veth peer name u0 netns ${h2}\naddr add 198.18.0.1/15 dev u0\nlink set u0 up\n`,
  );
  await run(
    ["ip", "-n", h2, "-batch", "-"],
    "link set lo up\naddr add 198.18.0.2/15 dev u0\nlink set u0 up\n",
  );
  return [h1, h2];
}

export async function namespacesStartingWith(prefix: string): Promise<string[]> {
  const { stdout } = await run(["ip", "-j", "netns", "list"]);
  const list = (splitJson(stdout)[0] ?? []) as { name: string }[];
  return list
    .map((n) => n.name)
    .filter((n) => n.startsWith(prefix))
    .sort();
}

/** Deletes every namespace whose name starts with prefix (the hosts and anything left over). */
export async function removeNamespaces(prefix: string): Promise<void> {
  const names = await namespacesStartingWith(prefix);
  if (names.length > 0)
    await run(["ip", "-batch", "-"], names.map((n) => `netns del ${n}\n`).join(""));
}

/** True if ping answered; undefined if ping is not installed. */
export async function ping(ns: string, ip: string): Promise<boolean | undefined> {
  try {
    await run(["ip", "netns", "exec", ns, "ping", "-c1", "-W2", ip]);
    return true;
  } catch (err) {
    if (
      isDataplaneError(err) &&
      /exec of "ping" failed|No such file/.test(err.exec?.stderr ?? "")
    ) {
      return undefined;
    }
    return false;
  }
}

const SERVER = `
const srv = require("node:net").createServer((s) => {
  s.once("data", (d) => { s.end("pong:" + d); srv.close(); });
});
srv.listen(7000, "0.0.0.0", () => console.log("ready"));
`;

// The guard only ends a connection that hangs (a blackholed packet); the test
// asserts on the outcome, never on how long it took.
const CLIENT = `
const [ip, msg] = process.argv.slice(1);
const s = require("node:net").connect(7000, ip, () => s.write(msg));
let got = "";
s.setTimeout(5000, () => { console.log("ERR ETIMEDOUT"); s.destroy(); });
s.on("data", (d) => { got += d; });
s.on("end", () => console.log(got));
s.on("error", (e) => console.log("ERR " + e.code));
`;

/** Starts a one-shot TCP echo server on port 7000 in `ns`; resolves once it listens. */
export function startServer(ns: string): Promise<{ done: Promise<void>; stop: () => void }> {
  const child = spawn("ip", ["netns", "exec", ns, process.execPath, "-e", SERVER], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const done = new Promise<void>((resolve) => child.on("close", () => resolve()));
  const stop = () => {
    if (child.exitCode === null) child.kill();
  };
  return new Promise((resolve, reject) => {
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (d: string) => {
      if (d.includes("ready")) resolve({ done, stop });
    });
    child.on("close", (code) => reject(new Error(`server in ${ns} exited (${code})`)));
  });
}

/** Connects from `ns` to ip:7000, sends msg; returns what came back or "ERR <code>". */
export async function exchange(ns: string, ip: string, msg: string): Promise<string> {
  const { stdout } = await run([
    "ip",
    "netns",
    "exec",
    ns,
    process.execPath,
    "-e",
    CLIENT,
    ip,
    msg,
  ]);
  return stdout.trim();
}
