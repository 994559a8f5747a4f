import assert from "node:assert/strict";
import { it } from "node:test";
import { formatHost, parseHost } from "./host-url.ts";

it("parses DOCKER_HOST-style addresses", () => {
  assert.deepEqual(parseHost("unix:///run/swarmnet/swarmnet.sock"), {
    kind: "unix",
    path: "/run/swarmnet/swarmnet.sock",
  });
  assert.deepEqual(parseHost("tcp://127.0.0.1:2375"), {
    kind: "tcp",
    host: "127.0.0.1",
    port: 2375,
  });
  assert.equal(formatHost(parseHost("tcp://[::1]:80")), "tcp://[::1]:80");
  for (const bad of ["http://x", "unix://relative", "tcp://host", "tcp://h:70000"]) {
    assert.throws(() => parseHost(bad), /invalid host/);
  }
});
