// Run inside a sandbox's network namespace (by nsenter, see netns-sockets.ts):
// binds the DNS address there over UDP and TCP, hands both sockets to the
// parent over the IPC channel and exits. A socket belongs to the namespace it
// was made in, whichever process holds it afterwards.
//
// argv: <address> <port> <deadline ms>. Messages to the parent: { socket: "udp" } and
// { socket: "tcp" } carrying the handles, or { error } if binding failed.
import dgram from "node:dgram";
import net from "node:net";

const [address = "127.0.0.11", portText = "53", deadlineText = "5000"] = process.argv.slice(2);
const port = Number(portText);

// Never linger when the parent is gone: the bound sockets would keep this
// process (and the port in the sandbox) alive for nobody. 'disconnect' is not
// enough: with a handle in flight to a parent that died, Node neither calls
// back nor emits it, hence the deadline (the parent's own timeout).
process.on("disconnect", () => process.exit(1));
setTimeout(() => process.exit(1), Number(deadlineText) || 5000).unref();

function fail(what: string, err: Error): void {
  const error = `${what} ${address}:${port}: ${err.message}`;
  try {
    process.send!({ error }, () => process.exit(1));
  } catch {
    console.error(error);
    process.exit(1);
  }
}

function handOver(udp: dgram.Socket, tcp: net.Server): void {
  const send = process.send!.bind(process);
  send({ socket: "udp" }, udp, {}, (err: Error | null) => {
    if (err) return fail("hand over udp", err);
    send({ socket: "tcp" }, tcp, {}, (err2: Error | null) => {
      if (err2) return fail("hand over tcp", err2);
      process.exit(0);
    });
  });
}

if (!process.send) {
  fail("no IPC channel to hand sockets over for", new Error("start me from netns-sockets.ts"));
} else {
  const udp = dgram.createSocket("udp4");
  udp.once("error", (err) => fail("cannot bind UDP", err));
  udp.bind(port, address, () => {
    const tcp = net.createServer();
    tcp.once("error", (err) => fail("cannot listen on TCP", err));
    tcp.listen(port, address, () => handOver(udp, tcp));
  });
}
