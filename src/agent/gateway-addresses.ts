// Each sandbox's address on the node's gateway bridge (docker_gwbridge,
// 172.18.0.0/16): node-local, so the agent hands them out itself and keeps
// them in a small file — a restarted agent must give every running sandbox
// the address it already has, or the resync would renumber live tasks.
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { AddressPool } from "../core/ipam/index.ts";

export const GATEWAY_SUBNET = "172.18.0.0/16";

export class GatewayAddresses {
  private readonly file: string;
  private readonly pool = new AddressPool({ subnet: GATEWAY_SUBNET, label: "docker_gwbridge" });
  private readonly byOwner = new Map<string, string>();

  constructor(file: string) {
    this.file = file;
    if (existsSync(file)) {
      for (const [owner, ip] of Object.entries(
        JSON.parse(readFileSync(file, "utf8")) as Record<string, string>,
      )) {
        this.pool.reserve(ip);
        this.byOwner.set(owner, ip);
      }
    }
  }

  /** Addresses for exactly these owners: keeps existing ones, frees the rest, hands out new ones. */
  assign(owners: string[]): Map<string, string> {
    const wanted = new Set(owners);
    let changed = false;
    for (const [owner, ip] of this.byOwner) {
      if (!wanted.has(owner)) {
        this.pool.release(ip);
        this.byOwner.delete(owner);
        changed = true;
      }
    }
    for (const owner of owners) {
      if (!this.byOwner.has(owner)) {
        this.byOwner.set(owner, this.pool.allocate());
        changed = true;
      }
    }
    if (changed) {
      writeFileSync(`${this.file}.tmp`, JSON.stringify(Object.fromEntries(this.byOwner)));
      renameSync(`${this.file}.tmp`, this.file);
    }
    return new Map(this.byOwner);
  }
}
