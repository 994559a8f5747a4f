import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  formatPolicyLogEntry,
  parseKmsgRecord,
  parsePolicyLogMessage,
  parsePolicyLogRecord,
  parseSince,
} from "./policy-log.ts";

// Captured on kernel 6.18 (nf_log_syslog) from render-policy.ts's prefixes.
const UDP =
  "swarmnet LA 0123456789ab x/audit ingress[0]: IN=lo OUT= MAC=00:00:00:00:00:00:00:00:00:00:00:00:08:00 SRC=127.0.0.1 DST=127.0.0.1 LEN=30 TOS=0x00 PREC=0x00 TTL=64 ID=58374 DF PROTO=UDP SPT=41147 DPT=53 LEN=10 ";
const ICMP =
  "swarmnet D 0123456789ab end-of-tier ingress: IN=lo OUT= MAC=00:00:00:00:00:00:00:00:00:00:00:00:08:00 SRC=127.0.0.1 DST=127.0.0.3 LEN=84 TOS=0x00 PREC=0x00 TTL=64 ID=46887 DF PROTO=ICMP TYPE=8 CODE=0 ID=5074 SEQ=1 ";
const TCP =
  "swarmnet D 0123456789ab back/big egress[3]: IN= OUT=eth0 SRC=10.0.1.5 DST=10.0.2.9 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=TCP SPT=40000 DPT=80 WINDOW=64240 RES=0x00 SYN URGP=0 ";

describe("policy log lines", () => {
  it("parses the prefix and the kernel's fields", () => {
    assert.deepEqual(parsePolicyLogMessage(UDP), {
      verdict: "accept",
      by: "log",
      owner: "0123456789ab",
      rule: "x/audit ingress[0]",
      in: "lo",
      out: "",
      src: "127.0.0.1",
      dst: "127.0.0.1",
      proto: "UDP",
      sport: 41147,
      dport: 53,
    });
    const icmp = parsePolicyLogMessage(ICMP)!;
    assert.equal(icmp.rule, "end-of-tier ingress");
    assert.equal(icmp.by, "rule");
    assert.equal(icmp.verdict, "drop");
    assert.deepEqual(icmp.icmp, { type: 8, code: 0 });
    assert.equal(icmp.dport, undefined);
    const tcp = parsePolicyLogMessage(TCP)!;
    assert.deepEqual([tcp.rule, tcp.out, tcp.dport], ["back/big egress[3]", "eth0", 80]);
    assert.equal(parsePolicyLogMessage("br0: port 2(veth1) entered disabled state"), undefined);
    assert.equal(parsePolicyLogMessage("swarmnet X 0123456789ab r: IN=lo"), undefined);
  });

  it("reads /dev/kmsg records with their time", () => {
    const rec = `4,1234,18919744807,-;${TCP}\n SUBSYSTEM=net\n`;
    assert.deepEqual(parseKmsgRecord(rec), { usec: 18919744807, message: TCP });
    const e = parsePolicyLogRecord(rec, Date.UTC(2026, 0, 1))!;
    assert.equal(e.time, "2026-01-01T05:15:19.744Z");
    assert.equal(parsePolicyLogRecord("4,1,2,-;kernel: hello", 0), undefined);
    assert.equal(parseKmsgRecord("garbage"), undefined);
    assert.equal(
      formatPolicyLogEntry(e),
      "2026-01-01T05:15:19.744Z  DROP  back/big egress[3]  0123456789ab  10.0.1.5:40000 → 10.0.2.9:80  TCP",
    );
    assert.equal(
      formatPolicyLogEntry(parsePolicyLogMessage(ICMP)!),
      "-  DROP  end-of-tier ingress  0123456789ab  127.0.0.1 → 127.0.0.3  ICMP type 8 code 0",
    );
    assert.match(formatPolicyLogEntry(parsePolicyLogMessage(UDP)!), /LOG\(accept\) {2}x\/audit/);
  });

  it("reads --since as a duration or a date", () => {
    assert.equal(parseSince("10m", 1_000_000), 400_000);
    assert.equal(parseSince("2h", 7_200_000), 0);
    assert.equal(parseSince("2026-01-01T00:00:00Z"), Date.UTC(2026, 0, 1));
    assert.equal(parseSince("soon"), null);
  });
});
