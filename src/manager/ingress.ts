// Each node's own endpoint on the ingress network (Docker's "ingress-sbox"):
// the routing mesh sends a published port's traffic from the node it arrived
// on, through this address, to a task on any node. Every node holds one while
// the ingress network exists, whether or not it runs tasks, so publishing a
// port never has to wait for addresses. Kept on the Node (`ingressAddr`),
// so the allocator can rebuild it after a restart like any task address.
import type { Network, Node } from "../core/model.ts";
import type { Allocator } from "./allocator.ts";
import type { Tx } from "./state.ts";

export function ingressNetwork(tx: Tx): Network | undefined {
  return tx.state.list("networks").find((n) => n.ingress);
}

/** The node with an ingress address, when the ingress network exists (for a node being added). */
export function withIngressAddr(tx: Tx, alloc: Allocator, node: Node): Node {
  const ingress = ingressNetwork(tx);
  if (!ingress || node.ingressAddr) return node;
  return { ...node, ingressAddr: alloc.allocateAddress(tx, ingress.id) };
}

/** Gives every node that has none an address on a (new) ingress network. */
export function attachNodesToIngress(tx: Tx, alloc: Allocator, ingress: Network): void {
  for (const node of tx.state.list("nodes")) {
    if (node.ingressAddr) continue;
    tx.put("nodes", { ...node, ingressAddr: alloc.allocateAddress(tx, ingress.id) });
  }
}

/** The ingress network is going away: its addresses go with it. */
export function detachNodesFromIngress(tx: Tx, alloc: Allocator, ingress: Network): void {
  for (const node of tx.state.list("nodes")) {
    if (!node.ingressAddr) continue;
    alloc.releaseAddress(tx, ingress.id, node.ingressAddr);
    const { ingressAddr: _, ...rest } = node;
    tx.put("nodes", rest);
  }
}

/** A node leaving the cluster gives its address back. */
export function releaseNodeIngress(tx: Tx, alloc: Allocator, node: Node): void {
  const ingress = ingressNetwork(tx);
  if (ingress && node.ingressAddr) alloc.releaseAddress(tx, ingress.id, node.ingressAddr);
}
