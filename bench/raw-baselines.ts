// Hand-built baselines for the data-plane benchmarks, in namespaces of their
// own (names under the benchmark's unique prefix), made with the same `ip`
// lines as the agent makes (src/dataplane/README.md):
//
// rawOverlay  two "host" namespaces on an underlay bridge, each with a network
//             namespace holding br0 + vxlan0 (made from the host, so its UDP
//             socket is there), static FDB and neighbour entries, MTU 1450, and
//             an endpoint namespace on a veth — the overlay minus gw0.
// rawBridge   two namespaces on a veth each into one bridge (MTU 1450).
import { ipBatch, mustRun } from "../src/lab/kernel.ts";
import { nsArgv, removeNamespaces, stopped } from "./lab-driver.ts";

/** A client namespace and a server namespace with the server's address. */
export interface Path {
  clientNs: string;
  serverNs: string;
  serverAddr: string;
}

function mac(ip: string): string {
  return `02:42:${ip
    .split(".")
    .map((o) => Number(o).toString(16).padStart(2, "0"))
    .join(":")}`;
}

export interface RawPlan {
  /** Makes the namespaces; resolves to the client and server endpoints. */
  build: () => Promise<Path>;
  /** Removes whatever of it exists (safe before, during and after build). */
  remove: () => Promise<void>;
}

const RAW_MTU = 1450;

/** Lines for an endpoint namespace `ep` whose eth0 is the peer of `port` on the bridge br0, as the agent makes a sandbox leg. */
function endpointLines(port: string, ep: string, ip: string) {
  return {
    bridge: [
      `link add name ${port} type veth peer name eth0 netns ${ep}`,
      `link set dev ${port} mtu ${RAW_MTU}`,
      `link set dev ${port} master br0`,
      `link set dev ${port} up`,
    ],
    endpoint: [
      "link set dev lo up",
      `link set dev eth0 mtu ${RAW_MTU}`,
      `link set dev eth0 address ${mac(ip)}`,
      `addr add ${ip}/24 dev eth0`,
      "link set dev eth0 up",
    ],
  };
}

/**
 * The overlay's baseline: underlay namespace with br0; hosts h1, h2 on it by
 * veth (198.18.0.1-2/15, ip_forward on, as lab nodes); per host a network
 * namespace with br0 (gateway 10.99.0.1/24) and vxlan0 (VNI 4097, port 4789,
 * local = host, nolearning proxy) created from the host; an endpoint
 * namespace per host; the other endpoint's MAC/IP as static FDB and
 * neighbour entries.
 */
export function rawOverlay(prefix: string): RawPlan {
  const ul = `${prefix}raw-ul`;
  const hosts = [1, 2].map((i) => ({
    host: `${prefix}raw-h${i}`,
    net: `${prefix}raw-h${i}-net`,
    ep: `${prefix}raw-h${i}-ep`,
    hostIp: `198.18.0.${i}`,
    ip: `10.99.0.${i + 1}`,
  }));
  const namespaces = [ul, ...hosts.flatMap((h) => [h.host, h.net, h.ep])];
  const remove = () =>
    removeNamespaces(namespaces, [
      ...hosts.map((h) => [h.net, "vxlan0"] as [string, string]),
      ...hosts.map((h) => [h.net, "vep0"] as [string, string]),
      ...hosts.map((_, i) => [ul, `h${i + 1}`] as [string, string]),
    ]);
  const build = async (): Promise<Path> => {
    await ipBatch(namespaces.map((ns) => `netns add ${ns}\n`).join(""), stopped);
    const ulLines = ["link add name br0 type bridge", "link set br0 up"];
    for (const [i, h] of hosts.entries()) {
      ulLines.push(
        `link add name h${i + 1} type veth peer name eth0 netns ${h.host}`,
        `link set h${i + 1} master br0`,
        `link set h${i + 1} up`,
      );
    }
    await ipBatch(`${ulLines.join("\n")}\n`, { netns: ul, ...stopped });
    for (const [i, h] of hosts.entries()) {
      const other = hosts[1 - i]!;
      await ipBatch(
        [
          "link set lo up",
          `addr add ${h.hostIp}/15 dev eth0`,
          "link set eth0 up",
          `link add name vxlan0 netns ${h.net} type vxlan id 4097 dstport 4789 local ${h.hostIp} nolearning proxy`,
          "",
        ].join("\n"),
        { netns: h.host, ...stopped },
      );
      await mustRun(nsArgv(h.host, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]), stopped);
      const e = endpointLines("vep0", h.ep, h.ip);
      await ipBatch(
        [
          "link add name br0 type bridge",
          `link set dev br0 mtu ${RAW_MTU}`,
          `link set dev vxlan0 mtu ${RAW_MTU}`,
          ...e.bridge,
          "link set dev vxlan0 master br0",
          "addr add 10.99.0.1/24 dev br0",
          "link set dev br0 up",
          "link set dev vxlan0 up",
          `neigh replace ${other.ip} lladdr ${mac(other.ip)} dev vxlan0 nud permanent`,
          "",
        ].join("\n"),
        { netns: h.net, ...stopped },
      );
      await mustRun(
        [
          "bridge",
          "-n",
          h.net,
          "fdb",
          "replace",
          mac(other.ip),
          "dev",
          "vxlan0",
          "dst",
          other.hostIp,
          "self",
          "permanent",
        ],
        stopped,
      );
      await ipBatch(`${e.endpoint.join("\n")}\n`, { netns: h.ep, ...stopped });
    }
    return { clientNs: hosts[0]!.ep, serverNs: hosts[1]!.ep, serverAddr: hosts[1]!.ip };
  };
  return { build, remove };
}

/** Same node's baseline: one namespace with br0 (10.98.0.1/24, MTU 1450) and two endpoints on veths. */
export function rawBridge(prefix: string): RawPlan {
  const br = `${prefix}raw-br`;
  const eps = [1, 2].map((i) => ({ ns: `${prefix}raw-ep${i}`, ip: `10.98.0.${i + 1}` }));
  const namespaces = [br, ...eps.map((e) => e.ns)];
  const remove = () =>
    removeNamespaces(
      namespaces,
      eps.map((_, i) => [br, `vep${i}`] as [string, string]),
    );
  const build = async (): Promise<Path> => {
    await ipBatch(namespaces.map((ns) => `netns add ${ns}\n`).join(""), stopped);
    const lines = eps.map((e, i) => endpointLines(`vep${i}`, e.ns, e.ip));
    await ipBatch(
      [
        "link add name br0 type bridge",
        `link set dev br0 mtu ${RAW_MTU}`,
        ...lines.flatMap((l) => l.bridge),
        "addr add 10.98.0.1/24 dev br0",
        "link set dev br0 up",
        "",
      ].join("\n"),
      { netns: br, ...stopped },
    );
    for (const [i, e] of eps.entries()) {
      await ipBatch(`${lines[i]!.endpoint.join("\n")}\n`, { netns: e.ns, ...stopped });
    }
    return { clientNs: eps[0]!.ns, serverNs: eps[1]!.ns, serverAddr: eps[1]!.ip };
  };
  return { build, remove };
}
