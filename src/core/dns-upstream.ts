// The resolvers a node's embedded DNS forwards names it does not own to:
// `--dns-upstream IP[:PORT]` (repeatable, or "none"), and the host's
// /etc/resolv.conf when no flag was ever given. Pure: parsing and checks.
import { invalid } from "./errors.ts";
import { tryParseIp } from "./ipam/index.ts";

export const DNS_PORT = 53;
/** The flag value that asks for no upstream at all (queries for other names: SERVFAIL). */
export const NO_UPSTREAM = "none";

/** One upstream, normalised to "IP:PORT" so its consumers never guess the port. */
export function parseDnsUpstream(text: string): string {
  const m = /^([0-9.]+)(?::(\d{1,5}))?$/.exec(text);
  const port = m?.[2] === undefined ? DNS_PORT : Number(m[2]);
  if (!m || tryParseIp(m[1]!) < 0 || port < 1 || port > 65535) {
    throw invalid(
      `invalid DNS upstream "${text}": expected an IPv4 address with an optional port, IP[:PORT]`,
    );
  }
  return `${m[1]}:${port}`;
}

/** What the repeatable flag gave: undefined when absent, [] for "none". */
export function dnsUpstreamFlag(values: readonly string[]): string[] | undefined {
  if (values.length === 0) return undefined;
  if (values.includes(NO_UPSTREAM)) {
    if (values.length > 1)
      throw invalid(`--dns-upstream ${NO_UPSTREAM} cannot be combined with other upstreams`);
    return [];
  }
  return values.map(parseDnsUpstream);
}

/** The list as an API request carries it (any JSON): undefined means "not given". */
export function checkDnsUpstreams(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string"))
    throw invalid("dnsUpstreams must be a list of IP[:PORT] strings");
  return (value as string[]).map(parseDnsUpstream);
}

/** The IPv4 nameservers of a resolv.conf, as "IP:53". Other lines (IPv6 servers,
 * comments, options, anything unreadable) are skipped: the file is the host's, not
 * ours to refuse. Loopback servers (systemd's 127.0.0.53) are kept: forwarding
 * happens in the node's own network namespace, where they answer. */
export function resolvConfNameservers(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    // As the C library reads it: the first word after the keyword; comments and the rest go.
    const [keyword, addr = ""] = line
      .replace(/[#;].*/, "")
      .trim()
      .split(/\s+/);
    if (keyword === "nameserver" && /^[0-9.]+$/.test(addr) && tryParseIp(addr) >= 0)
      out.push(`${addr}:${DNS_PORT}`);
  }
  return [...new Set(out)];
}

/** "IP:PORT" (or a bare "IP") as its parts. */
export function splitDnsUpstream(upstream: string): { address: string; port: number } {
  const [address = "", port] = parseDnsUpstream(upstream).split(":");
  return { address, port: Number(port) };
}
