// The manager: the only writer of cluster state. Each operation runs under
// one lock: it checks its input, changes the in-memory state through a Tx
// (rolled back whole on any error, so bad input changes nothing), then hands
// the Tx's writes to the store as one transaction. The lock is released once
// the write is queued (the store orders writes as they are issued), so
// concurrent requests share fsyncs through the store's group commit.

import { EventEmitter } from "node:events";
import { hostname } from "node:os";
import {
  conflict,
  invalid,
  NOT_MANAGER_MESSAGE,
  precondition,
  SwarmnetError,
} from "../core/errors.ts";
import { newId } from "../core/ids.ts";
import { tryParseIp } from "../core/ipam/index.ts";
import type { Cluster, Network, Node, Service } from "../core/model.ts";
import {
  checkNetworkRequest,
  type NetworkCreateRequest,
  validateLabels,
} from "../core/network-spec.ts";
import { checkServiceSpec, type ServiceSpecInput } from "../core/service-spec.ts";
import {
  createRootCa,
  generateJoinTokens,
  generateKeyPair,
  issueNodeCertificate,
  type NodeCredentials,
  privateKeyToPem,
  rootCaToPem,
  rotateJoinToken,
} from "../pki/index.ts";
import type { Store } from "../store/store.ts";
import { Allocator } from "./allocator.ts";
import { attachNodesToIngress, detachNodesFromIngress, releaseNodeIngress } from "./ingress.ts";
import {
  deleteTask,
  reattachTasks,
  reconcileService,
  retireAll,
  retireTask,
} from "./orchestrator.ts";
import { PolicyCounterBook } from "./policy-counters.ts";
import { predefinedNetworks } from "./predefined.ts";
import { resolve, resolveNetwork } from "./resolve.ts";
import { eligibleNodes, scheduleServices } from "./scheduler.ts";
import { ClusterState, KEY_PREFIX, KINDS, type Kind, Tx } from "./state.ts";

export interface InitOptions {
  defaultAddrPool?: string[];
  subnetSize?: number;
  dataPathPort?: number;
  advertiseAddr?: string;
  dataPathAddr?: string;
  hostname?: string;
}

export const DEFAULT_ADDR_POOL = ["10.0.0.0/8"];
export const DEFAULT_SUBNET_SIZE = 24;
export const DEFAULT_DATA_PATH_PORT = 4789;
/** Docker's swarm control port: joining and manager–agent traffic (mutual TLS). */
export const CONTROL_PORT = 2377;

export class Manager {
  readonly state = new ClusterState();
  /** Emits "change" after every committed operation (the dispatcher and waiters listen),
   * and "fatal" when the store refused a write the memory already holds. */
  readonly events = new EventEmitter();
  private readonly store: Store;
  private alloc: Allocator | undefined;
  private lock: Promise<unknown> = Promise.resolve();
  /** Id of the node this manager runs on. */
  selfNodeId = "";
  /** The latest policy counters each node's agent reported: kernel facts,
   * kept in memory only (never in the store; a restarted manager has them
   * again within one report period). */
  readonly policyCounters = new PolicyCounterBook();

  constructor(store: Store) {
    this.store = store;
    this.events.setMaxListeners(0);
  }

  /** Loads the state a previous run persisted and rebuilds the allocator from it. */
  async load(): Promise<void> {
    const { kvs } = await this.store.range(KEY_PREFIX);
    this.state.clear();
    for (const kv of kvs) {
      const kind = kv.key.slice(KEY_PREFIX.length).split("/")[0] as Kind;
      if (KINDS.includes(kind)) this.state.set(kind, JSON.parse(kv.value));
    }
    const cluster = this.state.cluster;
    if (cluster) {
      this.alloc = new Allocator(cluster);
      this.alloc.rebuild(this.state);
      this.selfNodeId = this.state.list("nodes").find((n) => n.leader)?.id ?? "";
    }
  }

  get initialized(): boolean {
    return this.state.cluster !== undefined;
  }

  /** Runs fn under the lock in a Tx; persists its writes; rolls everything back on error. */
  async transact<T>(fn: (tx: Tx, alloc: Allocator) => T, needsCluster = true): Promise<T> {
    let durable: Promise<unknown> = Promise.resolve();
    const run = this.lock.then(() => {
      if (needsCluster && !this.alloc) throw new SwarmnetError("NOT_MANAGER", NOT_MANAGER_MESSAGE);
      const tx = new Tx(this.state, new Date().toISOString());
      let result: T;
      try {
        result = fn(tx, this.alloc!);
      } catch (err) {
        tx.rollback();
        throw err;
      }
      const ops = tx.ops();
      if (ops.length > 0) {
        durable = this.store.txn({ compare: [], success: ops });
        this.events.emit("change");
      }
      return result;
    });
    this.lock = run.catch(() => undefined);
    const result = await run;
    try {
      await durable;
    } catch (err) {
      // Memory is now ahead of the disk; only a restart (reload from the store) makes them agree.
      this.events.emit("fatal", err);
      throw err;
    }
    return result;
  }

  /** Makes this node the first manager; returns its TLS credentials for the daemon to keep. */
  async init(
    opts: InitOptions,
  ): Promise<{ nodeId: string; cluster: Cluster; credentials: NodeCredentials }> {
    return this.transact((tx) => {
      if (this.alloc) {
        throw new SwarmnetError(
          "UNAVAILABLE",
          'This node is already part of a swarm. Use "swarmnet leave" to leave this swarm and join another one.',
        );
      }
      checkInitOptions(opts);
      const dataPathPort = opts.dataPathPort ?? DEFAULT_DATA_PATH_PORT;
      const advertiseAddr = opts.advertiseAddr ?? "127.0.0.1";
      const ca = createRootCa({ clusterId: newId() });
      if (!Number.isInteger(dataPathPort) || dataPathPort < 1024 || dataPathPort > 49151) {
        throw invalid(`data path port ${dataPathPort} is not in the valid range 1024-49151`);
      }
      const cluster = tx.put("cluster", {
        id: "cluster",
        version: 0,
        createdAt: tx.now,
        updatedAt: tx.now,
        defaultAddrPool: opts.defaultAddrPool?.length ? opts.defaultAddrPool : DEFAULT_ADDR_POOL,
        subnetSize: opts.subnetSize ?? DEFAULT_SUBNET_SIZE,
        dataPathPort,
        joinTokens: generateJoinTokens(ca.cert),
        ca: rootCaToPem(ca),
        managerAddr: `${advertiseAddr}:${CONTROL_PORT}`,
      });
      const alloc = new Allocator(cluster);
      const node = tx.put("nodes", {
        id: newId(),
        version: 0,
        createdAt: tx.now,
        updatedAt: tx.now,
        hostname: opts.hostname ?? hostname(),
        role: "manager",
        availability: "active",
        advertiseAddr,
        dataPathAddr: opts.dataPathAddr ?? advertiseAddr,
        state: "ready",
        message: "",
        labels: {},
        leader: true,
      });
      for (const net of predefinedNetworks(tx.now)) tx.put("networks", net);
      this.createNetworkIn(tx, alloc, { name: "ingress", driver: "overlay", ingress: true });
      this.alloc = alloc;
      tx.onUndo(() => (this.alloc = undefined));
      this.selfNodeId = node.id;
      const keys = generateKeyPair();
      const certPem = issueNodeCertificate(ca, {
        nodeId: node.id,
        role: "manager",
        publicKeyOrCsr: keys.publicKey,
        ipAddresses: [...new Set([advertiseAddr, "127.0.0.1"])],
      });
      const credentials = {
        caCertPem: ca.certPem,
        certPem,
        keyPem: privateKeyToPem(keys.privateKey),
      };
      return { nodeId: node.id, cluster, credentials };
    }, false);
  }

  /** Replaces a join token: nodes joining with the old one are refused from now on. */
  async rotateJoinToken(role: "worker" | "manager"): Promise<void> {
    await this.transact((tx) => {
      const c = tx.state.cluster!;
      tx.put("cluster", { ...c, joinTokens: rotateJoinToken(c.joinTokens, role, c.ca.certPem) });
    });
  }

  /** Turns logging of denied packets on or off (a cluster setting, stored). */
  async setPolicyLogDenied(on: boolean): Promise<void> {
    await this.transact((tx) => {
      const { policyLogDenied: _old, ...c } = tx.state.cluster!;
      tx.put("cluster", on ? { ...c, policyLogDenied: true } : c);
    });
  }

  /** Leaves the swarm; on the last manager this erases the cluster, so it needs force. */
  async leave(force: boolean): Promise<void> {
    if (!this.alloc) throw new SwarmnetError("UNAVAILABLE", "This node is not part of a swarm");
    if (!force) {
      throw precondition(
        "You are attempting to leave the swarm on a node that is participating as a manager. Removing the last manager erases all current state of the swarm. Use `--force` to ignore this message.",
      );
    }
    await this.transact((tx) => {
      for (const kind of KINDS) for (const obj of this.state.list(kind)) tx.delete(kind, obj.id);
      this.alloc = undefined;
      this.selfNodeId = "";
    });
  }

  async createNetwork(req: NetworkCreateRequest): Promise<Network> {
    return this.transact((tx, alloc) => this.createNetworkIn(tx, alloc, req));
  }

  private createNetworkIn(tx: Tx, alloc: Allocator, req: NetworkCreateRequest): Network {
    const checked = checkNetworkRequest(req);
    const networks = tx.state.list("networks");
    if (networks.some((n) => n.name === checked.name)) {
      throw conflict(`network with name ${checked.name} already exists`);
    }
    const ingress = networks.find((n) => n.ingress);
    if (checked.ingress && ingress)
      throw conflict(`ingress network (${ingress.id}) is already present`);
    const id = newId();
    const { ipam, vni } = alloc.allocateNetwork(tx, id, checked, networks);
    const net: Network = {
      id,
      version: 0,
      createdAt: tx.now,
      updatedAt: tx.now,
      name: checked.name,
      driver: checked.driver,
      scope: checked.driver === "overlay" ? "swarm" : "local",
      attachable: checked.attachable,
      internal: checked.internal,
      ingress: checked.ingress,
      predefined: false,
      ipam,
      options: { ...checked.options },
      labels: checked.labels,
    };
    if (vni !== undefined) {
      net.vni = vni;
      net.options["com.docker.network.driver.overlay.vxlanid_list"] = String(vni);
    }
    const created = tx.put("networks", net);
    if (created.ingress) attachNodesToIngress(tx, alloc, created);
    return created;
  }

  async removeNetwork(ref: string): Promise<void> {
    await this.transact((tx, alloc) => {
      const net = resolveNetwork(this.state, ref);
      if (net.predefined)
        throw precondition(`${net.name} is a pre-defined network and cannot be removed`);
      const services = this.state.list("services");
      if (net.ingress) {
        const user = services.find((s) =>
          s.endpoint.ports.some((p) => p.publishMode === "ingress"),
        );
        if (user) {
          throw precondition(
            `ingress network cannot be removed because service ${user.spec.name} depends on it`,
          );
        }
      }
      const user = services.find((s) => s.spec.networks.some((n) => n.target === net.id));
      if (user) throw precondition(`network ${net.name} is in use by service ${user.spec.name}`);
      const owner = [...this.state.list("tasks"), ...this.state.list("containers")].find((t) =>
        t.networks.some((n) => n.networkId === net.id),
      );
      if (owner) throw precondition(`network ${net.name} is in use by task ${owner.id}`);
      if (net.ingress) detachNodesFromIngress(tx, alloc, net);
      alloc.releaseNetwork(tx, net);
      tx.delete("networks", net.id);
    });
  }

  /**
   * removeNetwork, except that tasks and containers only on their way out
   * (their service removed, desired state no longer running) are waited for,
   * up to `timeoutMs`: as in Docker, a stack's networks can be removed right
   * after its services (`stack rm`), while their tasks still stop.
   */
  async removeNetworkWhenFree(ref: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.removeNetwork(ref);
        return;
      } catch (err) {
        const net = this.state.list("networks").find((n) => n.id === ref || n.name === ref);
        const users = [...this.state.list("tasks"), ...this.state.list("containers")].filter(
          (t) => net && t.networks.some((n) => n.networkId === net.id),
        );
        const leaving = users.length > 0 && users.every((t) => t.desiredState !== "running");
        const services = this.state
          .list("services")
          .some((s) => net && s.spec.networks.some((n) => n.target === net.id));
        if (!leaving || services || Date.now() > deadline) throw err;
        await new Promise<void>((done) => {
          const timer = setTimeout(finish, 500);
          function finish() {
            clearTimeout(timer);
            done();
          }
          this.events.once("change", finish);
        });
      }
    }
  }

  async createService(input: ServiceSpecInput): Promise<Service> {
    return this.transact((tx, alloc) => {
      const spec = checkServiceSpec(input, (ref) => this.serviceNetwork(ref));
      if (this.state.list("services").some((s) => s.spec.name === spec.name)) {
        throw conflict(`service ${spec.name} already exists`);
      }
      const id = newId();
      const ports = alloc.allocatePorts(
        tx,
        { id },
        spec.endpoint.ports,
        this.state.list("services"),
      );
      const virtualIps = this.virtualIps(tx, alloc, spec, ports, []);
      const service = tx.put("services", {
        id,
        version: 0,
        createdAt: tx.now,
        updatedAt: tx.now,
        spec,
        endpoint: { ports, virtualIps },
      });
      reconcileService(tx, alloc, service);
      scheduleServices(tx, [service]);
      return this.state.get("services", id)!;
    });
  }

  /** Replaces a service's spec; `version` must be the one the caller read (Docker's optimistic concurrency). */
  async updateService(ref: string, version: number, input: ServiceSpecInput): Promise<Service> {
    return this.transact((tx, alloc) => {
      const old = resolve(this.state, "services", ref);
      if (version !== old.version) throw conflict("update out of sequence");
      const spec = checkServiceSpec(input, (r) => this.serviceNetwork(r));
      if (spec.name !== old.spec.name) throw invalid("renaming services is not supported");
      const ports = alloc.allocatePorts(tx, old, spec.endpoint.ports, this.state.list("services"));
      const virtualIps = this.virtualIps(tx, alloc, spec, ports, old.endpoint.virtualIps);
      const restart = JSON.stringify(taskTemplate(old.spec)) !== JSON.stringify(taskTemplate(spec));
      const service = tx.put("services", {
        ...old,
        spec,
        previousSpec: old.spec,
        endpoint: { ports, virtualIps },
      });
      // Networks and published ports change what a task is attached to, not what it runs:
      // running tasks get (or lose) interfaces in place and keep their ids.
      if (!restart) reattachTasks(tx, alloc, service);
      reconcileService(tx, alloc, service, restart);
      scheduleServices(tx, [service]);
      return this.state.get("services", old.id)!;
    });
  }

  async removeService(ref: string): Promise<void> {
    await this.transact((tx, alloc) => {
      const service = resolve(this.state, "services", ref);
      for (const vip of service.endpoint.virtualIps)
        alloc.releaseAddress(tx, vip.networkId, vip.addr);
      alloc.releasePorts(tx, service.id);
      retireAll(tx, alloc, service.id);
      tx.delete("services", service.id);
    });
  }

  /** A network a service may attach to: swarm-scoped and not the ingress network. */
  private serviceNetwork(ref: string): string {
    const net = resolveNetwork(this.state, ref);
    if (net.scope !== "swarm") {
      throw invalid(
        `The network ${net.name} cannot be used with services. Only networks scoped to the swarm can be used, such as those created with the overlay driver.`,
      );
    }
    if (net.ingress)
      throw invalid(`service cannot be explicitly attached to the ingress network "${net.name}"`);
    return net.id;
  }

  /** In vip mode: keeps existing VIPs on networks still attached, allocates new ones, frees the rest. */
  private virtualIps(
    tx: Tx,
    alloc: Allocator,
    spec: Service["spec"],
    ports: Service["endpoint"]["ports"],
    current: Service["endpoint"]["virtualIps"],
  ): Service["endpoint"]["virtualIps"] {
    const wanted: string[] = [];
    if (spec.endpoint.mode === "vip") {
      const ingress = this.state.list("networks").find((n) => n.ingress);
      if (ingress && ports.some((p) => p.publishMode === "ingress")) wanted.push(ingress.id);
      for (const n of spec.networks) wanted.push(n.target);
    }
    const out = [];
    for (const networkId of wanted) {
      const have = current.find((v) => v.networkId === networkId);
      out.push(have ?? { networkId, addr: alloc.allocateAddress(tx, networkId) });
    }
    for (const v of current)
      if (!wanted.includes(v.networkId)) alloc.releaseAddress(tx, v.networkId, v.addr);
    return out;
  }

  /** Changes a node's availability, role or labels (Docker's `node update`) and re-places tasks accordingly. */
  async updateNode(
    ref: string,
    version: number,
    change: { availability?: unknown; role?: unknown; labels?: unknown },
  ): Promise<Node> {
    return this.transact((tx, alloc) => {
      const node = resolve(this.state, "nodes", ref);
      if (version !== node.version) throw conflict("update out of sequence");
      const next = { ...node };
      if (change.availability !== undefined) {
        if (!["active", "pause", "drain"].includes(change.availability as string)) {
          throw invalid(
            `invalid availability "${String(change.availability)}": must be active, pause or drain`,
          );
        }
        next.availability = change.availability as Node["availability"];
      }
      if (change.role !== undefined) {
        if (change.role !== "manager" && change.role !== "worker") {
          throw invalid(`invalid role "${String(change.role)}": must be manager or worker`);
        }
        if (node.leader && change.role === "worker") {
          throw precondition("attempting to demote the last manager of the swarm");
        }
        next.role = change.role;
      }
      if (change.labels !== undefined) next.labels = validateLabels(change.labels);
      const updated = tx.put("nodes", next);
      // Drain moves tasks away (as Docker's); constraints may now include or exclude the node.
      const services = this.state.list("services");
      for (const service of services) {
        for (const t of tx.state.tasksOf(service.id)) {
          if (
            t.nodeId === updated.id &&
            t.desiredState === "running" &&
            !eligibleNodes([updated], service).length
          ) {
            if (updated.availability !== "pause") retireTask(tx, alloc, t, "shutdown");
          }
        }
        reconcileService(tx, alloc, this.state.get("services", service.id)!);
      }
      scheduleServices(tx, services);
      return updated;
    });
  }

  /** Removes a node from the cluster (Docker's `node rm`); its tasks are placed elsewhere. */
  async removeNode(ref: string, force: boolean): Promise<void> {
    await this.transact((tx, alloc) => {
      const node = resolve(this.state, "nodes", ref);
      if (node.role === "manager") {
        throw precondition(
          `node ${node.id} is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal`,
        );
      }
      if (node.state !== "down" && !force) {
        throw precondition(`node ${node.id} is not down and can't be removed`);
      }
      releaseNodeIngress(tx, alloc, node);
      tx.delete("nodes", node.id);
      const services = this.state.list("services");
      for (const service of services) {
        for (const t of tx.state.tasksOf(service.id))
          if (t.nodeId === node.id) deleteTask(tx, alloc, t);
        reconcileService(tx, alloc, service);
      }
      scheduleServices(tx, services);
    });
  }

  /** The allocator's count of addresses held on a network (for invariant checks). */
  addressesInUse(networkId: string): number {
    return this.alloc?.addressesInUse(networkId) ?? 0;
  }

  node(ref: string): Node {
    return resolve(this.state, "nodes", ref);
  }
}

/** The init request as the API receives it: any JSON, so every field is checked. */
function checkInitOptions(opts: InitOptions): void {
  if (typeof opts !== "object" || opts === null)
    throw invalid("the request body must be a JSON object");
  const pools = opts.defaultAddrPool;
  if (pools !== undefined && (!Array.isArray(pools) || pools.some((p) => typeof p !== "string"))) {
    throw invalid("defaultAddrPool must be a list of CIDRs");
  }
  for (const field of ["subnetSize", "dataPathPort"] as const) {
    const v = opts[field];
    if (v !== undefined && (typeof v !== "number" || !Number.isInteger(v)))
      throw invalid(`${field} must be an integer`);
  }
  for (const field of ["advertiseAddr", "dataPathAddr"] as const) {
    const v = opts[field];
    if (v !== undefined && (typeof v !== "string" || tryParseIp(v) < 0)) {
      throw invalid(
        `invalid ${field === "advertiseAddr" ? "advertise" : "data path"} address "${String(v)}": expected an IPv4 address`,
      );
    }
  }
  if (opts.hostname !== undefined && (typeof opts.hostname !== "string" || opts.hostname === "")) {
    throw invalid("hostname must be a non-empty string");
  }
}

/** What a task runs with; a change here replaces tasks. A replica count, networks
 * and published ports do not (see reattachTasks). */
function taskTemplate(spec: Service["spec"]): unknown {
  return [spec.image, spec.command, spec.env ?? [], spec.containerLabels, spec.placement];
}
