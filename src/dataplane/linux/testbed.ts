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

// Answers each TCP connection and each UDP datagram with its name and the
// caller's address as it sees it. The UDP socket is unbound on purpose, like
// most UDP servers: the kernel picks each reply's source address by route.
const WHO_SERVER = `
const [name, port] = process.argv.slice(1);
const tcp = require("node:net").createServer((s) => s.end(name + " " + s.remoteAddress + "\\n"));
const udp = require("node:dgram").createSocket("udp4");
udp.on("message", (_m, r) => udp.send(name + " " + r.address + "\\n", r.port, r.address));
let ready = 0;
const up = () => { if (++ready === 2) console.log("ready"); };
tcp.listen(Number(port), "0.0.0.0", up);
udp.bind(Number(port), "0.0.0.0", up);
`;

// A connected UDP socket, as real clients use: a reply from any other
// address or port than the one asked is dropped by the kernel, never seen.
const WHO_CLIENT = `
const [kind, ip, port] = process.argv.slice(1);
const done = (text) => { console.log(text.trim()); process.exit(0); };
setTimeout(() => done("ERR ETIMEDOUT"), 3000);
if (kind === "tcp") {
  let got = "";
  const s = require("node:net").connect(Number(port), ip);
  s.on("data", (d) => { got += d; });
  s.on("end", () => done(got));
  s.on("error", (e) => done("ERR " + e.code));
} else {
  const s = require("node:dgram").createSocket("udp4");
  s.on("message", (m) => done(String(m)));
  s.on("error", (e) => done("ERR " + e.code));
  s.connect(Number(port), ip, () => s.send("who?\\n"));
}
`;

/** Starts a TCP and UDP server on `port` in `ns` answering "<name> <caller's address>". */
export function startWhoServer(ns: string, name: string, port: number): Promise<() => void> {
  const child = spawn(
    "ip",
    ["netns", "exec", ns, process.execPath, "-e", WHO_SERVER, name, String(port)],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const stop = () => {
    if (child.exitCode === null) child.kill();
  };
  return new Promise((resolve, reject) => {
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (d: string) => {
      if (d.includes("ready")) resolve(stop);
    });
    child.on("close", (code) => reject(new Error(`server in ${ns} exited (${code})`)));
  });
}

/** Asks ip:port from `ns` over TCP or a connected UDP socket; "<name> <address>" or "ERR <code>". */
export async function whoAnswers(
  ns: string,
  kind: "tcp" | "udp",
  ip: string,
  port: number,
): Promise<string> {
  const { stdout } = await run([
    "ip",
    "netns",
    "exec",
    ns,
    process.execPath,
    "-e",
    WHO_CLIENT,
    kind,
    ip,
    String(port),
  ]);
  return stdout.trim();
}
