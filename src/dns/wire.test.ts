import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { query, readReply } from "./testing.ts";
import {
  A_RECORD_SIZE,
  answersQuestion,
  aReply,
  emptyReply,
  encodeA,
  encodeName,
  encodePtr,
  FORMERR,
  frame,
  NOERROR,
  NOTIMP,
  NXDOMAIN,
  parseQuery,
  REFUSED,
  recordReply,
  SERVFAIL,
  TcpDeframer,
  UDP_MAX,
  withId,
} from "./wire.ts";

const ip = (s: string) => s.split(".").reduce((a, o) => a * 256 + Number(o), 0);

describe("parseQuery", () => {
  it("reads id, flags, a lower-cased name without trailing dot, type and class", () => {
    const q = parseQuery(query("Tasks.WEB", { id: 0xbeef, type: 28 }))!;
    assert.equal(q.error, 0);
    assert.equal(q.id, 0xbeef);
    assert.equal(q.qname, "tasks.web");
    assert.equal(q.qtype, 28);
    assert.equal(q.qclass, 1);
    assert.equal(q.questionEnd, 12 + 11 + 4);
  });

  it("reads the root as the empty name", () => {
    assert.equal(parseQuery(query(""))!.qname, "");
  });

  it("tolerates an EDNS OPT record", () => {
    const q = parseQuery(query("web", { edns: 4096 }))!;
    assert.equal(q.error, 0);
    assert.equal(q.qname, "web");
  });

  it("escapes a dot inside a label so it cannot pass for two labels", () => {
    const msg = query("xx.b");
    msg[13] = 0x2e; // the first label "xx" becomes ".x"
    assert.equal(parseQuery(msg)!.qname, "\\.x.b");
  });

  it("drops what is not a query: too short for a header, or a response", () => {
    assert.equal(parseQuery(Buffer.alloc(11)), null);
    assert.equal(parseQuery(query("web", { flags: 0x8100 })), null);
  });

  it("calls malformed questions FORMERR and other opcodes NOTIMP", () => {
    const two = query("web");
    two[5] = 2;
    assert.equal(parseQuery(two)!.error, FORMERR);
    const answers = query("web");
    answers[7] = 1;
    assert.equal(parseQuery(answers)!.error, FORMERR);
    assert.equal(parseQuery(query("web").subarray(0, 18))!.error, FORMERR);
    assert.equal(parseQuery(query("web").subarray(0, 14))!.error, FORMERR);
    const pointer = Buffer.concat([query("").subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
    assert.equal(parseQuery(pointer)!.error, FORMERR);
    const long = query(`${"a".repeat(60)}.${"b".repeat(60)}.${"c".repeat(60)}.${"d".repeat(60)}`);
    assert.equal(parseQuery(long)!.error, 0);
    const tooLong = query(
      `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(63)}`,
    );
    assert.equal(parseQuery(tooLong)!.error, FORMERR);
    assert.equal(parseQuery(query("web", { flags: 0x2800 }))!.error, NOTIMP);
  });
});

describe("replies", () => {
  it("copy ID, RD and the question bytes, set QR and RA, AA when authoritative", () => {
    const msg = query("WeB.x", { id: 77 });
    const q = parseQuery(msg)!;
    const r = readReply(emptyReply(msg, q, NXDOMAIN, true));
    assert.deepEqual(
      { ...r, answers: r.answers.length },
      {
        id: 77,
        qr: true,
        aa: true,
        tc: false,
        rd: true,
        ra: true,
        rcode: NXDOMAIN,
        qdcount: 1,
        question: "WeB.x",
        answers: 0,
      },
    );
    const noRd = query("web", { flags: 0 });
    const r2 = readReply(emptyReply(noRd, parseQuery(noRd)!, SERVFAIL, false));
    assert.equal(r2.rd, false);
    assert.equal(r2.aa, false);
    assert.equal(r2.rcode, SERVFAIL);
    assert.equal(readReply(emptyReply(msg, q, REFUSED, false)).rcode, REFUSED);
  });

  it("answer FORMERR with the header only", () => {
    const bad = query("web");
    bad[5] = 0;
    const q = parseQuery(bad)!;
    const r = readReply(emptyReply(bad, q, q.error, false));
    assert.equal(r.rcode, FORMERR);
    assert.equal(r.qdcount, 0);
  });

  it("carry A records, rotated from a given start", () => {
    const msg = query("db");
    const q = parseQuery(msg)!;
    const recs = encodeA([ip("10.0.0.1"), ip("10.0.0.2"), ip("10.0.0.3")], 0);
    const at = (start: number) =>
      readReply(aReply(msg, q, recs, start, UDP_MAX)).answers.map((a) => a.data);
    assert.deepEqual(at(0), ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    assert.deepEqual(at(1), ["10.0.0.2", "10.0.0.3", "10.0.0.1"]);
    assert.deepEqual(at(5), ["10.0.0.3", "10.0.0.1", "10.0.0.2"]);
    const r = readReply(aReply(msg, q, encodeA([ip("10.0.1.100")], 10), 0, UDP_MAX));
    assert.deepEqual(r.answers, [{ type: 1, ttl: 10, data: "10.0.1.100" }]);
    assert.equal(r.rcode, NOERROR);
    assert.ok(r.aa);
  });

  it("truncate A lists that do not fit and set TC", () => {
    const msg = query("tasks.big");
    const q = parseQuery(msg)!;
    const addrs = Array.from({ length: 100 }, (_, i) => ip("10.1.0.0") + i);
    const out = aReply(msg, q, encodeA(addrs, 0), 90, UDP_MAX);
    assert.ok(out.length <= UDP_MAX);
    const r = readReply(out);
    assert.ok(r.tc);
    assert.equal(r.answers.length, Math.floor((UDP_MAX - 12 - 15) / A_RECORD_SIZE));
    assert.equal(r.answers[0]!.data, "10.1.0.90");
    assert.equal(r.answers[10]!.data, "10.1.0.0");
    assert.equal(readReply(aReply(msg, q, encodeA(addrs, 0), 0, 65535)).answers.length, 100);
  });

  it("carry a PTR record", () => {
    const msg = query("2.1.0.10.in-addr.arpa", { type: 12 });
    const q = parseQuery(msg)!;
    const r = readReply(recordReply(msg, q, encodePtr("web.1.abc", 0), UDP_MAX));
    assert.deepEqual(r.answers, [{ type: 12, ttl: 0, data: "web.1.abc" }]);
  });

  it("encode names and refuse labels DNS cannot carry", () => {
    assert.deepEqual([...encodeName("a.bc")], [1, 97, 2, 98, 99, 0]);
    assert.deepEqual([...encodeName("")], [0]);
    assert.throws(() => encodeName("a..b"));
    assert.throws(() => encodeName("x".repeat(64)));
  });
});

describe("forwarding helpers", () => {
  it("withId patches the ID of a copy", () => {
    const msg = query("example.com", { id: 1 });
    const out = withId(msg, 0xabcd);
    assert.equal(out.readUInt16BE(0), 0xabcd);
    assert.equal(msg.readUInt16BE(0), 1);
  });

  it("answersQuestion wants a response to the same question", () => {
    const msg = query("example.com");
    const q = parseQuery(msg)!;
    const reply = emptyReply(msg, q, NOERROR, false);
    assert.ok(answersQuestion(reply, msg, q.questionEnd));
    assert.ok(!answersQuestion(msg, msg, q.questionEnd));
    const other = query("example.org");
    assert.ok(
      !answersQuestion(emptyReply(other, parseQuery(other)!, 0, false), msg, q.questionEnd),
    );
  });
});

describe("TCP framing", () => {
  it("frames with a 2-byte length and reassembles across any chunking", () => {
    const msgs = [query("a"), query("tasks.web"), query("example.com")];
    const stream = Buffer.concat(msgs.map(frame));
    for (const size of [1, 2, 3, 7, stream.length]) {
      const d = new TcpDeframer();
      const got: Buffer[] = [];
      for (let i = 0; i < stream.length; i += size)
        got.push(...d.push(stream.subarray(i, i + size)));
      assert.deepEqual(got, msgs);
      assert.equal(d.buffered, 0);
    }
  });
});
