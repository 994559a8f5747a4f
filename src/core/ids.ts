// Object ids as swarmkit makes them: 25 characters of base 36 from 128 random bits.
import { randomBytes } from "node:crypto";

export function newId(): string {
  const n = BigInt(`0x${randomBytes(16).toString("hex")}`);
  return n.toString(36).padStart(25, "0").slice(-25);
}

export function shortId(id: string): string {
  return id.slice(0, 12);
}
