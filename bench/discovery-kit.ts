// Shared by dns.bench.ts, vip.bench.ts and convergence.bench.ts (service
// discovery, VIP load balancing and their convergence): the API calls that set
// up each benchmark's lab (lab-driver.ts) and a polling helper.
import { setTimeout as sleep } from "node:timers/promises";
import { type Lab, mustApi, stopped } from "./lab-driver.ts";

export const SLEEP = ["sleep", "infinity"];

export interface ServiceView {
  id: string;
  version: number;
  spec: { mode: unknown } & Record<string, unknown>;
  endpoint: { virtualIps: { networkId: string; addr: string }[] };
}

export async function createNetwork(lab: Lab, name: string, subnet?: string): Promise<string> {
  const body = await mustApi<{ id: string }>(lab, "POST", "/v1/networks", {
    name,
    driver: "overlay",
    ...(subnet ? { ipam: [{ subnet }] } : {}),
  });
  return body.id;
}

export interface ServiceOptions {
  replicas?: number;
  global?: boolean;
  command?: string[];
  node?: string;
}

export async function createService(
  lab: Lab,
  name: string,
  network: string,
  o: ServiceOptions = {},
): Promise<ServiceView> {
  return mustApi<ServiceView>(lab, "POST", "/v1/services", {
    name,
    mode: o.global ? { global: {} } : { replicated: { replicas: o.replicas ?? 1 } },
    networks: [{ target: network }],
    command: o.command ?? [],
    placement: { constraints: o.node ? [`node.hostname==${o.node}`] : [] },
  });
}

export async function vipOf(lab: Lab, service: string, networkId: string): Promise<string> {
  const s = await mustApi<ServiceView>(lab, "GET", `/v1/services/${service}`);
  const v = s.endpoint.virtualIps.find((x) => x.networkId === networkId);
  if (!v) throw new Error(`service ${service} has no VIP on network ${networkId}`);
  return v.addr.split("/")[0]!;
}

export async function until<T>(
  what: string | (() => string),
  timeoutMs: number,
  everyMs: number,
  probe: () => Promise<T | undefined> | T | undefined,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) {
      throw new Error(
        `${typeof what === "string" ? what : what()}: not after ${timeoutMs / 1000} s`,
      );
    }
    await sleep(everyMs, undefined, stopped);
  }
}
