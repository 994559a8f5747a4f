// Shared by the policy tests: parse one YAML text, expect an error at a
// place; read kernel set elements back; reproducible randomness.
import assert from "node:assert/strict";
import { tryParseIp } from "../core/ipam/ipv4.ts";
import type { PolicyDirectionSets } from "../core/node-view.ts";
import { ICMP, TCP, UDP } from "./evaluate.ts";
import { parsePolicies } from "./load.ts";
import { type Policy, PolicyError } from "./model.ts";
import { formatSelector } from "./selector.ts";

export const FILE = "p.yaml";

export function only(text: string): Policy {
  const policies = parsePolicies(text, FILE);
  assert.equal(policies.length, 1);
  return policies[0]!;
}

/** Asserts that parsing fails at line:column with a message matching. */
export function assertPolicyError(
  text: string,
  line: number,
  column: number,
  message: RegExp,
): void {
  assert.throws(
    () => parsePolicies(text, FILE),
    (err: unknown) => {
      assert.ok(err instanceof PolicyError, `not a PolicyError: ${err}`);
      assert.match(err.message, message);
      assert.deepEqual(err.origin, { file: FILE, line, column }, err.message);
      return true;
    },
  );
}

/** A rule side with selectors as text, for readable expectations. */
export function side(match: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(match)) {
    out[key] =
      key === "selector" || key === "notSelector" || key === "namespaceSelector"
        ? formatSelector(value)
        : key === "nets" || key === "notNets"
          ? (value as { text: string }[]).map((n) => n.text)
          : value;
  }
  return out;
}

export const calico = (spec: string, meta = "{name: p, namespace: shop}", kind = "NetworkPolicy") =>
  `apiVersion: projectcalico.org/v3\nkind: ${kind}\nmetadata: ${meta}\nspec:\n${spec}`;

export const k8s = (spec: string, meta = "{name: p, namespace: shop}") =>
  `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: ${meta}\nspec:\n${spec}`;

/** mulberry32: reproducible randomness, so a failure can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Element {
  addr: [number, number];
  protocol: number;
  port: [number, number];
}

const PROTOCOLS: Record<string, number> = { tcp: TCP, udp: UDP, icmp: ICMP };

/** Reads an element as nft prints it (the forms enforce.ts documents). */
export function parseElement(text: string): Element {
  const [addr, proto, port] = text.split(" . ");
  let range: [number, number];
  if (addr!.includes("/")) {
    const [base, prefix] = addr!.split("/");
    const first = tryParseIp(base!);
    range = [first, first + 2 ** (32 - Number(prefix)) - 1];
  } else if (addr!.includes("-")) {
    const [a, b] = addr!.split("-");
    range = [tryParseIp(a!), tryParseIp(b!)];
  } else {
    range = [tryParseIp(addr!), tryParseIp(addr!)];
  }
  assert.ok(range[0] >= 0 && range[1] >= range[0], `bad address in ${text}`);
  const protocol = PROTOCOLS[proto!];
  assert.ok(protocol !== undefined, `bad protocol in ${text}`);
  const [lo, hi] = (port ?? "0").split("-").map(Number);
  return { addr: range, protocol, port: [lo!, hi ?? lo!] };
}

/** The outcome of the element holding this flow, as the kernel would find it. */
export function lookup(s: PolicyDirectionSets, ip: number, protocol: number, port: number) {
  const elements = protocol === TCP || protocol === UDP ? s.ports : s.other;
  const hits = Object.entries(elements).filter(([text]) => {
    const e = parseElement(text);
    return (
      e.protocol === protocol &&
      ip >= e.addr[0] &&
      ip <= e.addr[1] &&
      port >= e.port[0] &&
      port <= e.port[1]
    );
  });
  assert.ok(hits.length <= 1, `overlapping elements: ${hits.map(([t]) => t).join(", ")}`);
  return hits[0] && s.outcomes[hits[0][1]];
}
