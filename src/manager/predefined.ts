// Networks every swarmnet node has, as Docker lists them on a swarm node:
// the gateway bridge tasks use for egress, and the host and none networks.
// They are node-local, created by swarmnet itself, and cannot be removed.
import type { Network } from "../core/model.ts";

/** Docker's docker_gwbridge takes the first free 172.x/16; swarmnet's is fixed so every node agrees. */
export const GATEWAY_BRIDGE = {
  name: "docker_gwbridge",
  subnet: "172.18.0.0/16",
  gateway: "172.18.0.1",
};

export function predefinedNetworks(now: string): Network[] {
  const base = {
    version: 0,
    createdAt: now,
    updatedAt: now,
    scope: "local" as const,
    attachable: false,
    internal: false,
    ingress: false,
    predefined: true,
    labels: {},
  };
  return [
    {
      ...base,
      id: "gwbridge",
      name: GATEWAY_BRIDGE.name,
      driver: "bridge",
      ipam: [{ subnet: GATEWAY_BRIDGE.subnet, gateway: GATEWAY_BRIDGE.gateway, auxAddresses: {} }],
      options: {
        "com.docker.network.bridge.enable_icc": "false",
        "com.docker.network.bridge.enable_ip_masquerade": "true",
        "com.docker.network.bridge.name": GATEWAY_BRIDGE.name,
      },
    },
    { ...base, id: "host", name: "host", driver: "host", ipam: [], options: {} },
    { ...base, id: "none", name: "none", driver: "null", ipam: [], options: {} },
  ];
}
