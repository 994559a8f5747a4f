// Entry point of the built-in responder as a task process:
//   node responder-main.ts --task T --service S --stack K --node N --ports 80/tcp,80/udp
import { parseArgs } from "node:util";
import { startResponder } from "./responder.ts";

const { values } = parseArgs({
  options: {
    task: { type: "string", default: "" },
    service: { type: "string", default: "" },
    stack: { type: "string", default: "" },
    node: { type: "string", default: "" },
    ports: { type: "string", default: "80/tcp,80/udp" },
  },
});

const ports = values.ports.split(",").map((p) => {
  const [port = "", protocol = "tcp"] = p.split("/");
  if (!/^\d+$/.test(port) || (protocol !== "tcp" && protocol !== "udp")) {
    throw new Error(`invalid port "${p}": expected PORT/tcp or PORT/udp`);
  }
  return { port: Number(port), protocol: protocol as "tcp" | "udp" };
});

const responder = await startResponder({
  identity: { task: values.task, service: values.service, stack: values.stack, node: values.node },
  ports,
});
console.log(
  `responder listening on ${responder.ports.map((p) => `${p.port}/${p.protocol}`).join(", ")}`,
);
for (const sig of ["SIGTERM", "SIGINT"] as const) {
  process.once(sig, () => {
    void responder.close().then(() => process.exit(0));
  });
}
