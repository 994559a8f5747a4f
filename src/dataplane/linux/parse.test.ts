// Parsers on output captured from iproute2 6.1 / nftables 1.0.6 (trimmed).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { splitJson } from "./exec.ts";
import {
  NFT_MARK,
  parseFdb,
  parseForwarding,
  parseLinks,
  parseNeigh,
  parseNftTable,
  parseNsids,
  parseRoutes,
  parseRpFilter,
  parseRules,
  splitNsRead,
} from "./parse.ts";

const ADDR = `[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP"],"mtu":65536,"link_type":"loopback","address":"00:00:00:00:00:00","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8}]},{"ifindex":2,"link_index":4,"ifname":"eth0","flags":["BROADCAST","MULTICAST","UP"],"mtu":1450,"link_type":"ether","address":"02:42:0a:00:01:03","link_netnsid":0,"linkinfo":{"info_kind":"veth"},"addr_info":[{"family":"inet","local":"10.0.1.3","prefixlen":24},{"family":"inet6","local":"fe80::1","prefixlen":64}]},{"ifindex":3,"ifname":"vx0","flags":["BROADCAST","MULTICAST"],"mtu":1500,"master":"br0","link_type":"ether","address":"fe:62:8d:ad:85:e8","link_netnsid":0,"linkinfo":{"info_kind":"vxlan","info_data":{"id":4097,"local":"198.18.0.1","port":4789,"learning":false,"proxy":true},"info_slave_kind":"bridge","info_slave_data":{"state":"forwarding","isolated":false}}},{"ifindex":5,"ifname":"gabc","flags":["UP"],"mtu":1500,"master":"docker_gwbridge","address":"3a:14:e1:21:c0:c4","linkinfo":{"info_kind":"veth","info_slave_kind":"bridge","info_slave_data":{"isolated":true}},"ifalias":"x"}]`;

describe("parse", () => {
  it("splits the documents of one ip -j -batch run", () => {
    assert.deepEqual(splitJson('[{"a":"]["}]\n[]\n[{"b":1}]'), [[{ a: "][" }], [], [{ b: 1 }]]);
    assert.deepEqual(splitJson(""), []);
  });

  it("reads devices, their IPv4 addresses, bridge ports and VXLAN attributes", () => {
    const [lo, eth0, vx, g] = parseLinks(JSON.parse(ADDR));
    assert.deepEqual(lo, {
      name: "lo",
      kind: "loopback",
      ifindex: 1,
      mtu: 65536,
      mac: "00:00:00:00:00:00",
      up: true,
      addresses: ["127.0.0.1/8"],
    });
    assert.equal(eth0?.kind, "veth");
    assert.deepEqual(eth0?.addresses, ["10.0.1.3/24"]);
    assert.equal(eth0?.peerIndex, 4);
    assert.equal(eth0?.peerNsid, 0);
    assert.equal(vx?.up, false);
    assert.equal(vx?.master, "br0");
    assert.equal(vx?.isolated, false);
    assert.deepEqual(vx?.vxlan, {
      vni: 4097,
      port: 4789,
      local: "198.18.0.1",
      underlay: "",
      learning: false,
      proxy: true,
    });
    assert.equal(g?.isolated, true);
    assert.equal(g?.alias, "x");
  });

  it("reads namespace ids, keeping only named ones", () => {
    assert.deepEqual(parseNsids([{ nsid: 0, name: "xb" }, { nsid: 1 }]), new Map([[0, "xb"]]));
  });

  it("reads routes someone added, not the kernel's connected ones", () => {
    const routes = [
      { type: "unicast", dst: "default", gateway: "172.18.0.1", dev: "gw0", protocol: "boot" },
      { type: "unicast", dst: "10.0.1.0/24", dev: "eth0", protocol: "kernel", prefsrc: "10.0.1.3" },
    ];
    assert.deepEqual(parseRoutes(routes), [{ dst: "default", via: "172.18.0.1", dev: "gw0" }]);
  });

  it("reads routes of every table but local, with the table's number; IPv4 only", () => {
    // `ip -j -d route show table all`, trimmed
    const routes = [
      { dst: "default", gateway: "10.255.0.2", dev: "eth1", table: "1002", protocol: "boot" },
      { dst: "default", gateway: "172.18.0.1", dev: "gw0", table: "main", protocol: "boot" },
      { dst: "10.255.0.0/16", dev: "eth1", table: "main", protocol: "kernel" },
      { type: "local", dst: "10.255.0.10", dev: "eth1", table: "local", protocol: "kernel" },
      { dst: "10.9.0.0/16", gateway: "10.0.0.1", dev: "eth1", table: "local", protocol: "static" },
      { dst: "default", gateway: "fe80::1", dev: "eth1", table: "main", protocol: "ra" },
    ];
    assert.deepEqual(parseRoutes(routes), [
      { dst: "default", via: "10.255.0.2", dev: "eth1", table: 1002 },
      { dst: "default", via: "172.18.0.1", dev: "gw0" },
    ]);
  });

  it("reads rules but the kernel's three, with fwmark and table as numbers", () => {
    // `ip -j -d rule show`
    const rules = [
      { priority: 0, src: "all", table: "local", protocol: "kernel" },
      { priority: 100, src: "all", fwmark: "0x2", table: "1002", protocol: "unspec" },
      { priority: 100, src: "all", fwmark: "0x1f", table: "1031", protocol: "unspec" },
      { priority: 200, src: "1.2.3.4", table: "main", protocol: "unspec" },
      { priority: 32766, src: "all", table: "main", protocol: "kernel" },
      { priority: 32767, src: "all", table: "default", protocol: "kernel" },
    ];
    assert.deepEqual(parseRules(rules), [
      { priority: 100, fwmark: 2, table: 1002 },
      { priority: 100, fwmark: 31, table: 1031 },
      { priority: 200, table: 254 },
    ]);
  });

  it("reads rp_filter of 'all'", () => {
    const conf = (rp: string) => [
      { family: "inet", interface: "eth0", forwarding: false, rp_filter: "strict" },
      { family: "inet", interface: "all", forwarding: false, rp_filter: rp },
      { family: "inet6", interface: "all", forwarding: false },
    ];
    assert.equal(parseRpFilter(conf("off")), 0);
    assert.equal(parseRpFilter(conf("strict")), 1);
    assert.equal(parseRpFilter(conf("loose")), 2);
  });

  it("reads permanent neighbours and VTEP FDB entries only", () => {
    assert.deepEqual(
      parseNeigh([
        { dst: "10.0.1.9", dev: "vxlan0", lladdr: "02:42:0a:00:01:09", state: ["PERMANENT"] },
        { dst: "10.0.1.2", dev: "br0", lladdr: "02:42:0a:00:01:02", state: ["REACHABLE"] },
      ]),
      [{ dev: "vxlan0", ip: "10.0.1.9", mac: "02:42:0a:00:01:09" }],
    );
    assert.deepEqual(
      parseFdb([
        {
          mac: "fe:62:8d:ad:85:e8",
          ifname: "vxlan0",
          flags: [],
          master: "br0",
          state: "permanent",
        },
        {
          mac: "02:42:0a:00:01:09",
          ifname: "vxlan0",
          dst: "198.18.0.2",
          flags: ["self"],
          state: "permanent",
        },
        { mac: "33:33:00:00:00:01", ifname: "br0", flags: ["self"], state: "permanent" },
      ]),
      [{ dev: "vxlan0", mac: "02:42:0a:00:01:09", dst: "198.18.0.2" }],
    );
  });

  it("reads IPv4 forwarding of 'all'", () => {
    const conf = (on: boolean) => [
      { family: "inet", interface: "lo", forwarding: !on },
      { family: "inet", interface: "all", forwarding: on },
      { family: "inet6", interface: "all", forwarding: !on },
    ];
    assert.equal(parseForwarding(conf(true)), true);
    assert.equal(parseForwarding(conf(false)), false);
  });

  it("reads nft chains as nft prints them", () => {
    const text = [
      "table ip swarmnet {",
      "\tchain forward {",
      "\t\ttype filter hook forward priority filter; policy accept;",
      '\t\tiifname "docker_gwbridge" oifname "docker_gwbridge" drop',
      "\t}",
      "",
      "\tchain postrouting {",
      "\t\ttype nat hook postrouting priority srcnat; policy accept;",
      '\t\tip saddr 172.18.0.0/16 oifname != "docker_gwbridge" masquerade',
      "\t}",
      "}",
      "",
    ].join("\n");
    assert.deepEqual(parseNftTable(text), {
      family: "ip",
      name: "swarmnet",
      chains: [
        {
          name: "forward",
          type: "filter",
          hook: "forward",
          priority: "filter",
          policy: "accept",
          rules: ['iifname "docker_gwbridge" oifname "docker_gwbridge" drop'],
        },
        {
          name: "postrouting",
          type: "nat",
          hook: "postrouting",
          priority: "srcnat",
          policy: "accept",
          rules: ['ip saddr 172.18.0.0/16 oifname != "docker_gwbridge" masquerade'],
        },
      ],
      maps: [],
    });
  });

  it("reads maps, sets and regular chains, with element lists that wrap", () => {
    // Captured from nft 1.0.6: elements come in the kernel's order, a long
    // list wraps, concatenated keys go one per line.
    const text = [
      "table ip swarmnet {",
      "\tmap vips {",
      "\t\ttype ipv4_addr : verdict",
      "\t\telements = { 10.0.1.2 : goto svc-0123456789ab, 10.0.1.3 : goto svc-abcdefabcdef,",
      "\t\t\t     10.0.1.4 : goto svc-abcdefabcdef, 10.0.1.7 : goto svc-abcdefabcdef,",
      "\t\t\t     10.0.1.8 : jump svc-abcdefabcdef }",
      "\t}",
      "",
      "\tmap published {",
      "\t\ttype inet_proto . inet_service : verdict",
      "\t\telements = { udp . 53 : goto pub-tcp-8080,",
      "\t\t\t     tcp . 8080 : goto pub-tcp-8080 }",
      "\t}",
      "",
      "\tset locals {",
      "\t\ttype ipv4_addr",
      "\t\telements = { 10.0.1.2, 10.0.1.3 }",
      "\t}",
      "",
      "\tmap empty {",
      "\t\ttypeof ip daddr : ip daddr",
      "\t}",
      "",
      "\tchain output {",
      "\t\ttype nat hook output priority -100; policy accept;",
      "\t\tip daddr vmap @vips",
      "\t}",
      "",
      "\tchain svc-0123456789ab {",
      "\t\tdnat to numgen random mod 2 map { 0 : 10.0.1.5, 1 : 10.0.1.6 }",
      "\t}",
      "",
      "\tchain svc-abcdefabcdef {",
      "\t\treject",
      "\t}",
      "",
      "\tchain idle {",
      "\t}",
      "",
      "\tflowtable ft {",
      "\t\thook ingress priority filter",
      '\t\tdevices = { "eth0" }',
      "\t}",
      "}",
      "",
    ].join("\n");
    const t = parseNftTable(text);
    assert.deepEqual(
      t.chains.map((c) => c.name),
      ["idle", "output", "svc-0123456789ab", "svc-abcdefabcdef"],
    );
    assert.deepEqual(t.chains[0], { name: "idle", rules: [] });
    assert.deepEqual(t.chains[1], {
      name: "output",
      type: "nat",
      hook: "output",
      priority: "-100",
      policy: "accept",
      rules: ["ip daddr vmap @vips"],
    });
    assert.deepEqual(t.chains[2], {
      name: "svc-0123456789ab",
      rules: ["dnat to numgen random mod 2 map { 0 : 10.0.1.5, 1 : 10.0.1.6 }"],
    });
    assert.deepEqual(t.maps, [
      { name: "empty", type: "typeof ip daddr", map: "ip daddr", elements: {} },
      { name: "locals", type: "ipv4_addr", elements: { "10.0.1.2": "", "10.0.1.3": "" } },
      {
        name: "published",
        type: "inet_proto . inet_service",
        map: "verdict",
        elements: { "udp . 53": "goto pub-tcp-8080", "tcp . 8080": "goto pub-tcp-8080" },
      },
      {
        name: "vips",
        type: "ipv4_addr",
        map: "verdict",
        elements: {
          "10.0.1.2": "goto svc-0123456789ab",
          "10.0.1.3": "goto svc-abcdefabcdef",
          "10.0.1.4": "goto svc-abcdefabcdef",
          "10.0.1.7": "goto svc-abcdefabcdef",
          "10.0.1.8": "jump svc-abcdefabcdef",
        },
      },
    ]);
  });

  it("refuses output that is not a table listing", () => {
    assert.throws(() => parseNftTable("Error: nope\n"), /unexpected output/);
    assert.throws(() => parseNftTable("table ip swarmnet {\n\tchain x {\n"), /unterminated/);
  });

  it("splits observe's namespace read into JSON, nft listing and nft's status", () => {
    const table = "table ip swarmnet {\n\tchain x {\n\t}\n}\n";
    assert.deepEqual(splitNsRead(`[{"a":1}]\n[]\n${NFT_MARK}\n${table}0\n`), {
      json: '[{"a":1}]\n[]',
      nft: table,
      nftStatus: 0,
    });
    assert.deepEqual(splitNsRead(`[]\n${NFT_MARK}\n1\n`), { json: "[]", nft: "", nftStatus: 1 });
    assert.throws(() => splitNsRead("[]\n"), /cut short/);
    assert.throws(() => splitNsRead(`[]\n${NFT_MARK}\n${table}`), /cut short/);
  });
});
