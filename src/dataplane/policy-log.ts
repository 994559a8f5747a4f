// Reading swarmnet's policy log lines back from the kernel log (`swarmnet
// policy log`). The lines are nft `log` statements of render-policy.ts: the
// prefix (`swarmnet D 0123456789ab back/big ingress[3]: `) then what the
// kernel's nf_log_syslog writes (`IN=eth0 OUT= MAC=… SRC=10.0.1.5
// DST=10.0.1.9 … PROTO=TCP SPT=40000 DPT=80 …`). Pure.
import { LOG_PREFIX_TAG, type LogVerdict } from "./render-policy.ts";

export interface PolicyLogEntry {
  /** Wall-clock time of the record, when known (ISO 8601). */
  time?: string;
  verdict: "accept" | "drop";
  /** "rule": the rule decided the packet; "log": a Calico Log rule matched it
   * (the packet then got `verdict` from a later rule). */
  by: "rule" | "log";
  /** First 12 characters of the task or container id. */
  owner: string;
  /** "back/big ingress[3]", or "end-of-tier ingress" (no rule matched). */
  rule: string;
  in: string;
  out: string;
  src: string;
  dst: string;
  /** TCP, UDP, ICMP, or the number the kernel prints. */
  proto: string;
  sport?: number;
  dport?: number;
  /** ICMP type and code. */
  icmp?: { type: number; code: number };
}

const LINE = new RegExp(`^${LOG_PREFIX_TAG} (A|D|LA|LD) ([0-9a-zA-Z]{1,12}) (.*?): (IN=.*)$`);

/** One kernel log message (without its timestamp); undefined: not swarmnet's. */
export function parsePolicyLogMessage(message: string): PolicyLogEntry | undefined {
  const m = LINE.exec(message.trimEnd());
  if (!m) return undefined;
  const v = m[1] as LogVerdict;
  const fields = new Map<string, string>();
  for (const f of m[4]!.split(" ")) {
    const at = f.indexOf("=");
    // Later fields of the same name (ICMP errors quote the packet in […]) lose.
    if (at > 0 && !fields.has(f.slice(0, at))) fields.set(f.slice(0, at), f.slice(at + 1));
  }
  const num = (k: string) => {
    const t = fields.get(k);
    return t !== undefined && /^\d+$/.test(t) ? Number(t) : undefined;
  };
  const e: PolicyLogEntry = {
    verdict: v.endsWith("A") ? "accept" : "drop",
    by: v.startsWith("L") ? "log" : "rule",
    owner: m[2]!,
    rule: m[3]!,
    in: fields.get("IN") ?? "",
    out: fields.get("OUT") ?? "",
    src: fields.get("SRC") ?? "",
    dst: fields.get("DST") ?? "",
    proto: fields.get("PROTO") ?? "",
  };
  const sport = num("SPT");
  const dport = num("DPT");
  if (sport !== undefined) e.sport = sport;
  if (dport !== undefined) e.dport = dport;
  const type = num("TYPE");
  if (e.proto === "ICMP" && type !== undefined) e.icmp = { type, code: num("CODE") ?? 0 };
  return e;
}

/** One /dev/kmsg record ("6,1234,18919744807,-;message\n SUBSYSTEM=…"):
 * the message and its time in µs since boot. */
export function parseKmsgRecord(record: string): { usec: number; message: string } | undefined {
  const semi = record.indexOf(";");
  if (semi < 0) return undefined;
  const head = record.slice(0, semi).split(",");
  const usec = Number(head[2]);
  if (head.length < 3 || !Number.isFinite(usec)) return undefined;
  // Continuation lines (dictionary "KEY=value") start with a space.
  const message = record.slice(semi + 1).split("\n")[0] ?? "";
  return { usec, message };
}

/** A /dev/kmsg record as a policy log entry, its time from the boot time
 * (ms since the epoch); undefined: not swarmnet's. */
export function parsePolicyLogRecord(record: string, bootMs: number): PolicyLogEntry | undefined {
  const r = parseKmsgRecord(record);
  if (!r) return undefined;
  const e = parsePolicyLogMessage(r.message);
  if (e) e.time = new Date(bootMs + r.usec / 1000).toISOString();
  return e;
}

/** One line for people: time, verdict, rule, owner, SRC:port → DST:port, protocol. */
export function formatPolicyLogEntry(e: PolicyLogEntry): string {
  const port = (p: number | undefined) => (p === undefined ? "" : `:${p}`);
  const verdict = e.by === "log" ? `LOG(${e.verdict})` : e.verdict.toUpperCase();
  const proto = e.icmp ? `${e.proto} type ${e.icmp.type} code ${e.icmp.code}` : e.proto;
  return [
    e.time ?? "-",
    verdict,
    e.rule,
    e.owner,
    `${e.src}${port(e.sport)} → ${e.dst}${port(e.dport)}`,
    proto,
  ].join("  ");
}

/** `--since`: "30s", "10m", "2h" before `now`, or a date Date.parse reads;
 * ms since the epoch, null when unreadable. */
export function parseSince(text: string, now = Date.now()): number | null {
  const d = /^(\d+)(s|m|h)$/.exec(text);
  if (d) return now - Number(d[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[d[2] as "s" | "m" | "h"];
  const t = Date.parse(text);
  return Number.isNaN(t) ? null : t;
}
