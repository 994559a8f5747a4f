import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatPort, parsePortFlag } from "./ports.ts";

describe("port flags", () => {
  it("reads the short syntax", () => {
    assert.deepEqual(parsePortFlag("8080:80"), {
      protocol: "tcp",
      targetPort: 80,
      publishedPort: 8080,
      publishMode: "ingress",
    });
    assert.deepEqual(parsePortFlag("53:53/udp").protocol, "udp");
    assert.equal(parsePortFlag("80").publishedPort, 0);
  });
  it("reads the long syntax", () => {
    assert.deepEqual(parsePortFlag("published=8080,target=80,protocol=udp,mode=host"), {
      protocol: "udp",
      targetPort: 80,
      publishedPort: 8080,
      publishMode: "host",
    });
  });
  for (const [text, message] of [
    ["70000:80", /invalid hostPort: 70000/],
    ["0:80", /invalid hostPort: 0/],
    ["80:99999", /invalid containerPort: 99999/],
    ["80/icmp", /invalid protocol/],
    ["a:b:c", /invalid port format/],
    ["published=80", /missing mandatory field "target"/],
    ["target=80,mode=bridge", /must be either "ingress" or "host"/],
    ["target=80,colour=red", /invalid field key colour/],
  ] as const) {
    it(`refuses ${text}`, () => assert.throws(() => parsePortFlag(text), message));
  }
  it("formats as docker service ls does", () => {
    assert.equal(formatPort(parsePortFlag("8080:80")), "*:8080->80/tcp");
    assert.equal(formatPort(parsePortFlag("published=81,target=80,mode=host")), "81:80/tcp (host)");
  });
});
