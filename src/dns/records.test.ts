import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseIp } from "../core/ipam/index.ts";
import { CONTAINER, dnsView, TASK } from "./fixtures.ts";
import {
  dnsTable,
  ENDPOINT_TTL,
  type Resolution,
  resolve,
  reverseName,
  reverseToIp,
  VIP_TTL,
} from "./records.ts";

const table = dnsTable(dnsView());

/** A resolution in words: addresses (in order) with TTL, a PTR target, or the kind. */
function ask(asker: string, name: string): string {
  return show(resolve(table, asker, name));
}

function show(r: Resolution): string {
  if (r.kind === "a") {
    const ips = r.record.addrs.map((a) => [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255]);
    return `${ips.map((o) => o.join(".")).join(" ")} ttl=${r.record.ttl}`;
  }
  if (r.kind === "ptr") return `ptr ${r.name} ttl=${r.ttl}`;
  return r.kind;
}

describe("dnsTable: who asks", () => {
  it("has every local task and container meant to run, and nobody else", () => {
    assert.deepEqual(
      [...table.askers.keys()].sort(),
      [TASK.web1, TASK.db1, TASK.api1, TASK.secret1, CONTAINER].sort(),
    );
    assert.equal(ask(TASK.web2, "web"), "refused");
    assert.equal(ask(TASK.web3, "web"), "refused");
  });

  it("lets an asker forward only when one of its networks is not internal", () => {
    assert.equal(table.askers.get(TASK.web1)!.egress, true);
    assert.equal(table.askers.get(TASK.db1)!.egress, false);
    assert.equal(ask(TASK.web1, "example.com"), "forward");
    assert.equal(ask(TASK.db1, "example.com"), "servfail");
  });
});

describe("dnsTable: service names", () => {
  it("answers a vip service with its VIP on the asker's first network that has it", () => {
    assert.equal(ask(TASK.web1, "web"), `10.0.1.100 ttl=${VIP_TTL}`);
    assert.equal(ask(TASK.api1, "web"), "10.0.1.100 ttl=10");
    assert.equal(ask(TASK.db1, "web"), "10.0.2.100 ttl=10");
  });

  it("answers a dnsrr service with its live tasks, TTL 0", () => {
    assert.equal(ask(TASK.web1, "db"), `10.0.2.10 10.0.2.11 ttl=${ENDPOINT_TTL}`);
  });

  it("answers tasks.<service> with the live tasks on the shared network, in both modes", () => {
    assert.equal(ask(TASK.web1, "tasks.web"), "10.0.1.2 10.0.1.3 ttl=0");
    assert.equal(ask(TASK.db1, "tasks.web"), "10.0.2.2 10.0.2.3 ttl=0");
    assert.equal(ask(TASK.db1, "tasks.db"), "10.0.2.10 10.0.2.11 ttl=0");
  });

  it("answers a service's aliases only on the network that has them", () => {
    assert.equal(ask(TASK.api1, "www"), "10.0.1.100 ttl=10");
    assert.equal(ask(TASK.api1, "tasks.www"), "10.0.1.2 10.0.1.3 ttl=0");
    assert.equal(ask(TASK.db1, "www"), "nxdomain");
  });

  it("answers a stack service by its full name, its short name and short.stack", () => {
    for (const name of ["shop_api", "api", "api.shop"]) {
      assert.equal(ask(TASK.web1, name), "10.0.1.101 ttl=10", name);
    }
    assert.equal(ask(TASK.web1, "tasks.api"), "10.0.1.20 ttl=0");
  });

  it("has no names on the ingress network", () => {
    const web1 = table.askers.get(TASK.web1)!;
    assert.deepEqual(
      web1.networks.map((n) => n.networkId),
      ["netfront", "netback"],
    );
    assert.equal(ask(TASK.web1, "1.0.255.10.in-addr.arpa"), "forward");
  });
});

describe("dnsTable: tasks and containers", () => {
  it("answers both task names of live tasks, anywhere in the cluster", () => {
    assert.equal(ask(TASK.api1, `web.1.${TASK.web1}`), "10.0.1.2 ttl=0");
    assert.equal(ask(TASK.api1, "web.2"), "10.0.1.3 ttl=0");
    assert.equal(ask(TASK.db1, "web.2"), "10.0.2.3 ttl=0");
  });

  it("keeps a task that is not live out, without sending its name upstream", () => {
    assert.equal(ask(TASK.api1, "web.3"), "nxdomain");
    assert.equal(ask(TASK.api1, `web.3.${TASK.web3}`), "nxdomain");
  });

  it("answers a container's name and aliases", () => {
    assert.equal(ask(TASK.web1, "debugbox"), "10.0.1.50 ttl=0");
    assert.equal(ask(TASK.web1, "dbg"), "10.0.1.50 ttl=0");
    assert.equal(ask(CONTAINER, "web"), "10.0.1.100 ttl=10");
    assert.equal(ask(TASK.db1, "dbg"), "nxdomain");
  });

  it("is case-insensitive: names are stored lower-case", () => {
    const view = dnsView();
    view.services[0]!.spec.name = "Web";
    assert.equal(show(resolve(dnsTable(view), TASK.web1, "web")), "10.0.1.100 ttl=10");
  });

  it("lets a service's name win over a container's of the same name", () => {
    const view = dnsView();
    view.containers[0]!.name = "web";
    view.endpoints = view.endpoints.map((e) =>
      e.ownerId === CONTAINER ? { ...e, names: ["web"] } : e,
    );
    assert.equal(show(resolve(dnsTable(view), TASK.api1, "web")), "10.0.1.100 ttl=10");
  });
});

describe("dnsTable: names that are not ours", () => {
  it("keeps bare names here (NXDOMAIN), forwards the rest", () => {
    assert.equal(ask(TASK.web1, "secret"), "nxdomain");
    assert.equal(ask(TASK.web1, "nosuchthing"), "nxdomain");
    assert.equal(ask(TASK.web1, "tasks.secret"), "forward");
    assert.equal(ask(TASK.web1, ""), "forward");
    assert.equal(ask(TASK.secret1, "secret"), "10.0.3.100 ttl=10");
  });
});

describe("dnsTable: reverse names", () => {
  it("names live tasks, containers and VIPs on shared networks", () => {
    assert.equal(ask(TASK.api1, "2.1.0.10.in-addr.arpa"), `ptr web.1.${TASK.web1} ttl=0`);
    assert.equal(ask(TASK.api1, "100.1.0.10.in-addr.arpa"), "ptr web ttl=0");
    assert.equal(ask(TASK.api1, "50.1.0.10.in-addr.arpa"), "ptr debugbox ttl=0");
    assert.equal(ask(TASK.db1, "10.2.0.10.in-addr.arpa"), `ptr db.1.${TASK.db1} ttl=0`);
  });

  it("keeps unknown addresses of shared subnets here, forwards others", () => {
    assert.equal(ask(TASK.api1, "4.1.0.10.in-addr.arpa"), "nxdomain");
    assert.equal(ask(TASK.api1, "99.1.0.10.in-addr.arpa"), "nxdomain");
    assert.equal(ask(TASK.api1, "2.3.0.10.in-addr.arpa"), "forward");
    assert.equal(ask(TASK.api1, "8.8.8.8.in-addr.arpa"), "forward");
    assert.equal(ask(TASK.api1, "1.0.10.in-addr.arpa"), "forward");
  });

  it("round-trips addresses", () => {
    assert.equal(reverseName(parseIp("10.0.1.2")), "2.1.0.10.in-addr.arpa");
    assert.equal(reverseToIp("2.1.0.10.in-addr.arpa"), parseIp("10.0.1.2"));
    assert.equal(reverseToIp("x.1.0.10.in-addr.arpa"), -1);
  });
});
