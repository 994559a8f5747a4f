// A small cluster for the DNS tests, rendered through the real nodeView():
//   front  10.0.1.0/24            web (vip 10.0.1.100, alias www), shop_api (stack "shop",
//                                 vip 10.0.1.101), container debugbox (alias dbg)
//   back   10.0.2.0/24 internal   web (vip 10.0.2.100), db (dnsrr)
//   other  10.0.3.0/24            secret (vip 10.0.3.100)
//   ingress 10.255.0.0/16         web's published port (vip 10.255.0.5)
// On node1: web.1 (front, back, ingress), web.3 (told to stop), db.1 (back), api.1 (front),
// secret.1 (other), debugbox. On node2: web.2, db.2.
import type { Container, Service, Task } from "../core/model.ts";
import { type NodeView, nodeView } from "../core/node-view.ts";
import { node, overlay, task } from "../dataplane/fixtures.ts";

const meta = { version: 1, createdAt: "2025-01-01T00:00:00Z", updatedAt: "2025-01-01T00:00:00Z" };

export const NET = { front: "netfront", back: "netback", other: "netother", ingress: "netingress" };
export const SVC = { web: "svcweb", db: "svcdb", api: "svcapi", secret: "svcsecret" };
export const TASK = {
  web1: "tweb1aaaaaaaaaaaaaaaaaaaa",
  web2: "tweb2bbbbbbbbbbbbbbbbbbbb",
  web3: "tweb3cccccccccccccccccccc",
  db1: "tdb1dddddddddddddddddddddd",
  db2: "tdb2eeeeeeeeeeeeeeeeeeeeee",
  api1: "tapi1ffffffffffffffffffff",
  secret1: "tsecret1ggggggggggggggggg",
};
export const CONTAINER = "cdebugbox0000000000000000";

function service(
  id: string,
  name: string,
  mode: "vip" | "dnsrr",
  networks: [string, string[]][],
  vips: [string, string][],
  labels: Record<string, string> = {},
): Service {
  return {
    ...meta,
    id,
    spec: {
      name,
      labels,
      containerLabels: {},
      image: "",
      command: [],
      mode: { replicated: { replicas: 1 } },
      networks: networks.map(([target, aliases]) => ({ target, aliases })),
      endpoint: { mode, ports: [] },
      placement: { constraints: [] },
    },
    endpoint: {
      ports: [],
      virtualIps: vips.map(([networkId, addr]) => ({ networkId, addr })),
    },
  };
}

function serviceTask(
  id: string,
  serviceId: string,
  slot: number,
  nodeId: string,
  attachments: [string, string][],
  live = true,
): Task {
  const t = task(id, nodeId, attachments);
  return {
    ...t,
    serviceId,
    slot,
    desiredState: live ? "running" : "shutdown",
  };
}

export function dnsView(): NodeView {
  const third = { front: 1, back: 2, other: 3 };
  const n = (net: keyof typeof third, host: number) => `10.0.${third[net]}.${host}/24`;
  const ingress = { ...overlay(NET.ingress, "10.255.0.0/16", 4096), ingress: true };
  const services = [
    service(
      SVC.web,
      "web",
      "vip",
      [
        [NET.front, ["www"]],
        [NET.back, []],
      ],
      [
        [NET.front, n("front", 100)],
        [NET.back, n("back", 100)],
        [NET.ingress, "10.255.0.5/16"],
      ],
    ),
    service(SVC.db, "db", "dnsrr", [[NET.back, []]], []),
    service(SVC.api, "shop_api", "vip", [[NET.front, []]], [[NET.front, n("front", 101)]], {
      "com.docker.stack.namespace": "shop",
    }),
    service(SVC.secret, "secret", "vip", [[NET.other, []]], [[NET.other, n("other", 100)]]),
  ];
  const tasks = [
    serviceTask(TASK.web1, SVC.web, 1, "node1", [
      [NET.front, n("front", 2)],
      [NET.back, n("back", 2)],
      [NET.ingress, "10.255.0.7/16"],
    ]),
    serviceTask(TASK.web2, SVC.web, 2, "node2", [
      [NET.front, n("front", 3)],
      [NET.back, n("back", 3)],
    ]),
    serviceTask(TASK.web3, SVC.web, 3, "node1", [[NET.front, n("front", 4)]], false),
    serviceTask(TASK.db1, SVC.db, 1, "node1", [[NET.back, n("back", 10)]]),
    serviceTask(TASK.db2, SVC.db, 2, "node2", [[NET.back, n("back", 11)]]),
    serviceTask(TASK.api1, SVC.api, 1, "node1", [[NET.front, n("front", 20)]]),
    serviceTask(TASK.secret1, SVC.secret, 1, "node1", [[NET.other, n("other", 2)]]),
  ];
  const debugbox: Container = {
    ...meta,
    id: CONTAINER,
    name: "debugbox",
    nodeId: "node1",
    labels: {},
    command: [],
    networks: [{ networkId: NET.front, addresses: [n("front", 50)], aliases: ["dbg"] }],
    desiredState: "running",
    status: { state: "running", message: "", err: "", timestamp: meta.createdAt },
  };
  return nodeView({
    node: node("node1", "198.18.0.1"),
    dataPathPort: 4789,
    nodes: [node("node1", "198.18.0.1"), node("node2", "198.18.0.2")],
    networks: [
      overlay(NET.front, "10.0.1.0/24", 4097),
      overlay(NET.back, "10.0.2.0/24", 4098, { internal: true }),
      overlay(NET.other, "10.0.3.0/24", 4099),
      ingress,
    ],
    services,
    tasks,
    containers: [debugbox],
  });
}
