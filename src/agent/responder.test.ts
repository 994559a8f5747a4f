// The responder with real clients on loopback: curl for HTTP, raw TCP lines,
// UDP datagrams.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createSocket } from "node:dgram";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { type RunningResponder, responderPorts, startResponder } from "./responder.ts";

const identity = { task: "web.1.abc", service: "web", stack: "shop", node: "node1" };
// The responder adds who called, as it sees the caller.
const LINE = "task=web.1.abc service=web stack=shop node=node1 from=127.0.0.1";

describe("built-in responder", () => {
  let r: RunningResponder;
  before(async () => {
    r = await startResponder({
      identity,
      host: "127.0.0.1",
      ports: [
        { port: 0, protocol: "tcp" },
        { port: 0, protocol: "udp" },
      ],
    });
  });
  after(() => r.close());
  const tcp = () => r.ports.find((p) => p.protocol === "tcp")!.port;

  it("answers HTTP with the identity line as the body (curl)", async () => {
    const { stdout } = await promisify(execFile)("curl", [
      "-sS",
      "--max-time",
      "5",
      `http://127.0.0.1:${tcp()}/`,
    ]);
    assert.equal(stdout, `${LINE}\n`);
  });

  it("answers keep-alive requests one by one", async () => {
    const { stdout } = await promisify(execFile)("curl", [
      "-sS",
      "--max-time",
      "5",
      `http://127.0.0.1:${tcp()}/a`,
      `http://127.0.0.1:${tcp()}/b`,
    ]);
    assert.equal(stdout, `${LINE}\n${LINE}\n`);
  });

  it("answers each line on a plain TCP connection", async () => {
    const sock = connect(tcp(), "127.0.0.1");
    let got = "";
    sock.setEncoding("utf8");
    const done = new Promise<void>((resolve) =>
      sock.on("data", (d: string) => {
        got += d;
        if (got.split("\n").length > 2) resolve();
      }),
    );
    sock.write("hello\nworld\n");
    await done;
    sock.destroy();
    assert.equal(got, `${LINE}\n${LINE}\n`);
  });

  it("answers each UDP datagram", async () => {
    const sock = createSocket("udp4");
    const reply = new Promise<string>((resolve) =>
      sock.once("message", (m) => resolve(m.toString())),
    );
    sock.send("ping", r.ports.find((p) => p.protocol === "udp")!.port, "127.0.0.1");
    assert.equal(await reply, `${LINE}\n`);
    sock.close();
  });

  it("listens on every target port over TCP and UDP, 80 by default", () => {
    assert.deepEqual(responderPorts([]), [
      { port: 80, protocol: "tcp" },
      { port: 80, protocol: "udp" },
    ]);
    assert.deepEqual(
      responderPorts([{ targetPort: 81 }, { targetPort: 80 }], [81]).map(
        (p) => `${p.port}/${p.protocol}`,
      ),
      ["80/tcp", "80/udp", "81/tcp", "81/udp"],
    );
  });
});
