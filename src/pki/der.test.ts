import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as der from "./der.ts";
import { ipBytes } from "./x509.ts";

const hex = (b: Buffer) => b.toString("hex");

describe("DER", () => {
  it("encodes integers as positive, minimal two's complement", () => {
    assert.equal(hex(der.uint(0)), "020100");
    assert.equal(hex(der.uint(2)), "020102");
    assert.equal(hex(der.uint(Buffer.from([0x80]))), "02020080");
    assert.equal(hex(der.uint(Buffer.from([0x00, 0x00, 0x7f]))), "02017f");
  });

  it("encodes OIDs, long lengths and named bits", () => {
    assert.equal(hex(der.oid("1.2.840.10045.4.3.2")), "06082a8648ce3d040302");
    assert.equal(hex(der.octetString(Buffer.alloc(200)).subarray(0, 3)), "0481c8");
    assert.equal(hex(der.octetString(Buffer.alloc(300)).subarray(0, 4)), "0482012c");
    assert.equal(hex(der.namedBits([0, 5, 6])), "03020186"); // CA key usage
    assert.equal(hex(der.namedBits([0])), "03020780"); // digitalSignature only
  });

  it("uses UTCTime before 2050 and GeneralizedTime from 2050 (RFC 5280)", () => {
    assert.equal(
      der.time(new Date("2049-12-31T23:59:59Z")).subarray(2).toString(),
      "491231235959Z",
    );
    assert.equal(
      der.time(new Date("2050-01-01T00:00:00Z")).subarray(2).toString(),
      "20500101000000Z",
    );
  });

  it("reads what it writes and refuses truncated or overlong input", () => {
    const buf = der.seq(der.uint(5), der.octetString(Buffer.alloc(130)));
    const top = der.readTlv(buf);
    assert.equal(top.end, buf.length);
    const [a, b] = der.children(buf, top);
    assert.equal(a!.tag, der.TAG.INTEGER);
    assert.equal(b!.end - b!.contentStart, 130);
    assert.throws(() => der.readTlv(buf.subarray(0, buf.length - 1)), der.DerError);
    assert.throws(() => der.readTlv(Buffer.from([0x30, 0x80, 0x00, 0x00])), der.DerError); // BER indefinite
    assert.throws(() => der.readTlv(Buffer.from([0x30])), der.DerError);
  });

  it("turns IP addresses into SAN bytes", () => {
    assert.equal(hex(ipBytes("198.18.0.1")), "c6120001");
    assert.equal(hex(ipBytes("::1")), "00000000000000000000000000000001");
    assert.equal(hex(ipBytes("fe80::1:2")), "fe800000000000000000000000010002");
    assert.equal(hex(ipBytes("::ffff:1.2.3.4")), "00000000000000000000ffff01020304");
    assert.equal(hex(ipBytes("2001:db8::")), "20010db8000000000000000000000000");
    assert.throws(() => ipBytes("300.1.1.1"));
  });
});
