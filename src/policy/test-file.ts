// The `swarmnet policy test` file: declared workloads, the policy files to
// load, and cases, each an expected reachability matrix on one port. Parsed
// here into plain data with every mistake reported as "file:line:column:
// message" (PolicyError); evaluating it is run-test.ts's job.
//
//   stacks:                     # optional: extra namespace labels per stack
//     x: {labels: {team: red}}
//   workloads:                  # "<stack>/<name>"
//     x/a: {labels: {pod: a}, ports: [80/tcp, 80/udp]}
//     y/b: {labels: {pod: b}, ports: [80/tcp], replicas: 2, networks: [net1]}
//   policies: [policies/]       # files or folders, relative to this file
//   cases:
//     - name: default deny ingress in x
//       port: 80/tcp
//       expect: |               # rows are clients, columns servers
//         -   x/a y/b           # . reaches, X does not; the diagonal is ignored
//         x/a  X   .
//         y/b  X   .
//
// A workload without `networks:` is on the one shared overlay ("default").
// A workload listens only on the `ports` it lists (none listed: none).
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, type Scalar } from "yaml";
import {
  DEFAULT_NAMESPACE,
  type Namespace,
  namespaceLabels,
  type Origin,
  PolicyError,
  type Workload,
  workloadLabels,
} from "./model.ts";

/** The network of every workload that does not list its own. */
export const DEFAULT_TEST_NETWORK = "default";

export interface TestPort {
  port: number;
  /** IANA number: TCP 6, UDP 17, SCTP 132. */
  protocol: number;
  /** Normalized: "80/tcp". */
  text: string;
}

export interface TestWorkload {
  /** "<stack>/<name>". */
  id: string;
  stack: string;
  name: string;
  /** As written (the stack label is added by testWorkloads). */
  labels: Record<string, string>;
  ports: TestPort[];
  replicas: number;
  networks: string[];
  origin: Origin;
}

export interface TestCase {
  name: string;
  port: TestPort;
  /** Row ids (clients) and column ids (servers), in the matrix's order. */
  clients: string[];
  servers: string[];
  /** client → server → reaches; the diagonal is absent (ignored). */
  expect: Map<string, Map<string, boolean>>;
  origin: Origin;
}

export interface TestFile {
  file: string;
  /** Extra namespace labels per stack, as written. */
  stacks: Map<string, Record<string, string>>;
  workloads: TestWorkload[];
  /** Policy files or folders, relative to the test file. */
  policies: string[];
  cases: TestCase[];
}

const PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17, sctp: 132 };
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function parseTestFile(text: string, file: string): TestFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const at = (node: Node | null | undefined): Origin => {
    const pos = lineCounter.linePos(node?.range?.[0] ?? 0);
    return { file, line: pos.line, column: pos.col };
  };
  const fail = (message: string, node?: Node | null): never => {
    throw new PolicyError(message, at(node));
  };
  const yamlError = doc.errors[0];
  if (yamlError) {
    const pos = lineCounter.linePos(yamlError.pos[0]);
    const message = yamlError.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
    throw new PolicyError(`invalid YAML: ${message}`, { file, line: pos.line, column: pos.col });
  }
  const ctx: Ctx = { text, file, lineCounter, at, fail };
  const root = doc.contents;
  if (!isMap(root)) return fail("a policy test file is a mapping with workloads and cases", root);
  const fields = fieldsOf(ctx, root, "the test file", ["stacks", "workloads", "policies", "cases"]);

  const stacks = new Map<string, Record<string, string>>();
  if (fields.stacks) {
    for (const [key, value] of entries(ctx, fields.stacks, "stacks")) {
      const name = nameOf(ctx, key, "stack");
      const f = fieldsOf(ctx, value, `stack ${name}`, ["labels"]);
      stacks.set(name, f.labels ? labelsOf(ctx, f.labels, `labels of stack ${name}`) : {});
    }
  }

  if (!fields.workloads) return fail("missing workloads", root);
  const workloads: TestWorkload[] = [];
  for (const [key, value] of entries(ctx, fields.workloads, "workloads")) {
    workloads.push(workloadOf(ctx, key, value));
  }
  if (workloads.length === 0) fail("workloads is empty", fields.workloads);

  const policies: string[] = [];
  if (fields.policies) {
    if (!isSeq(fields.policies)) fail("policies is a list of files or folders", fields.policies);
    for (const item of (fields.policies as { items: unknown[] }).items) {
      policies.push(stringOf(ctx, item as Node, "a policy path"));
    }
  }

  if (!fields.cases) return fail("missing cases", root);
  if (!isSeq(fields.cases)) fail("cases is a list", fields.cases);
  const ids = new Set(workloads.map((w) => w.id));
  const cases: TestCase[] = [];
  for (const item of (fields.cases as { items: unknown[] }).items) {
    cases.push(caseOf(ctx, item as Node, ids));
  }
  if (cases.length === 0) fail("cases is empty", fields.cases);
  return { file, stacks, workloads, policies, cases };
}

/** The namespaces policies see: every stack named anywhere, plus "default". */
export function testNamespaces(tf: TestFile): Map<string, Namespace> {
  const names = new Set([
    DEFAULT_NAMESPACE,
    ...tf.stacks.keys(),
    ...tf.workloads.map((w) => w.stack),
  ]);
  return new Map(
    [...names].map((name) => [name, { name, labels: namespaceLabels(name, tf.stacks.get(name)) }]),
  );
}

/**
 * The workloads as policies see them: their labels plus the stack label, and
 * one synthetic address per network (network k in order of first use is
 * 10.0.<k+1>.0/24, the overlay default pool's way; workloads get .2, .3, … in
 * file order). Replicas share labels and networks, so one endpoint stands for
 * all of them offline.
 */
export function testWorkloads(tf: TestFile): Workload[] {
  const networks = new Map<string, { subnet: number; next: number }>();
  return tf.workloads.map((w) => {
    const addresses = w.networks.map((networkId) => {
      let net = networks.get(networkId);
      if (!net) {
        net = { subnet: networks.size + 1, next: 2 };
        networks.set(networkId, net);
      }
      if (net.subnet > 255 || net.next > 254)
        throw new PolicyError("too many workloads or networks for the test's addresses", w.origin);
      return { networkId, address: `10.0.${net.subnet}.${net.next++}` };
    });
    return {
      id: w.id,
      namespace: w.stack,
      labels: workloadLabels(w.labels, w.stack),
      addresses,
    };
  });
}

/** "80/tcp" → {80, 6}; a bare port is TCP, as Docker's `-p` reads it. */
export function parseTestPort(text: string): TestPort | undefined {
  const m = /^(\d{1,5})(?:\/([a-zA-Z]+))?$/.exec(text.trim());
  if (!m) return undefined;
  const port = Number(m[1]);
  const name = (m[2] ?? "tcp").toLowerCase();
  const protocol = PROTOCOLS[name];
  if (protocol === undefined || port < 1 || port > 65535) return undefined;
  return { port, protocol, text: `${port}/${name}` };
}

interface Ctx {
  text: string;
  file: string;
  lineCounter: LineCounter;
  at: (node: Node | null | undefined) => Origin;
  fail: (message: string, node?: Node | null) => never;
}

function entries(ctx: Ctx, node: Node, what: string): [Node, Node][] {
  if (!isMap(node)) ctx.fail(`${what} is a mapping`, node);
  return (node as { items: { key: unknown; value: unknown }[] }).items.map((p) => [
    p.key as Node,
    p.value as Node,
  ]);
}

/** A mapping's fields by name; an unknown field is an error (typos would
 * otherwise silently change what is tested). */
function fieldsOf(
  ctx: Ctx,
  node: Node | null,
  what: string,
  allowed: string[],
): Record<string, Node | undefined> {
  if (node === null || (isScalar(node) && node.value === null)) return {};
  const out: Record<string, Node | undefined> = {};
  for (const [key, value] of entries(ctx, node, what)) {
    const name = isScalar(key) ? String(key.value) : "";
    if (!allowed.includes(name))
      ctx.fail(`unknown field "${name}" in ${what} (expected ${allowed.join(", ")})`, key);
    out[name] = value ?? undefined;
  }
  return out;
}

function stringOf(ctx: Ctx, node: Node | null, what: string): string {
  if (!isScalar(node) || typeof node.value !== "string" || node.value === "")
    return ctx.fail(`${what} must be a non-empty string`, node);
  return node.value;
}

function nameOf(ctx: Ctx, node: Node, what: string): string {
  const name = isScalar(node) ? String(node.value) : "";
  if (!NAME.test(name)) ctx.fail(`invalid ${what} name "${name}"`, node);
  return name;
}

function labelsOf(ctx: Ctx, node: Node, what: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [key, value] of entries(ctx, node, what)) {
    const name = isScalar(key) ? String(key.value) : "";
    if (name === "") ctx.fail(`empty label key in ${what}`, key);
    // Numbers and booleans are written unquoted often enough; labels are strings.
    const v = isScalar(value) ? value.value : undefined;
    if (v === null || (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean"))
      ctx.fail(`label ${name} must have a string value`, value ?? key);
    labels[name] = String(v);
  }
  return labels;
}

function workloadOf(ctx: Ctx, key: Node, value: Node | null): TestWorkload {
  const id = isScalar(key) ? String(key.value) : "";
  const slash = id.indexOf("/");
  const stack = id.slice(0, slash);
  const name = id.slice(slash + 1);
  if (slash < 0 || !NAME.test(stack) || !NAME.test(name))
    ctx.fail(`invalid workload "${id}": expected <stack>/<name>`, key);
  const f = fieldsOf(ctx, value, `workload ${id}`, ["labels", "ports", "replicas", "networks"]);
  const ports: TestPort[] = [];
  if (f.ports) {
    if (!isSeq(f.ports)) ctx.fail(`ports of ${id} is a list like [80/tcp, 53/udp]`, f.ports);
    for (const item of (f.ports as { items: unknown[] }).items)
      ports.push(portOf(ctx, item as Node));
  }
  let replicas = 1;
  if (f.replicas) {
    const v = isScalar(f.replicas) ? f.replicas.value : undefined;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1)
      ctx.fail(`replicas of ${id} must be a positive integer`, f.replicas);
    replicas = v as number;
  }
  let networks = [DEFAULT_TEST_NETWORK];
  if (f.networks) {
    if (!isSeq(f.networks)) ctx.fail(`networks of ${id} is a list of names`, f.networks);
    networks = (f.networks as { items: unknown[] }).items.map((n) =>
      nameOf(ctx, n as Node, "network"),
    );
    if (networks.length === 0) ctx.fail(`networks of ${id} is empty`, f.networks);
  }
  return {
    id,
    stack,
    name,
    labels: f.labels ? labelsOf(ctx, f.labels, `labels of ${id}`) : {},
    ports,
    replicas,
    networks: [...new Set(networks)],
    origin: ctx.at(key),
  };
}

function portOf(ctx: Ctx, node: Node | null): TestPort {
  const v = isScalar(node) ? node.value : undefined;
  const port =
    typeof v === "string" || typeof v === "number" ? parseTestPort(String(v)) : undefined;
  if (!port) return ctx.fail(`invalid port "${String(v)}": expected PORT[/tcp|udp|sctp]`, node);
  return port;
}

function caseOf(ctx: Ctx, node: Node | null, ids: Set<string>): TestCase {
  const f = fieldsOf(ctx, node, "a case", ["name", "port", "expect"]);
  if (!f.name) ctx.fail("a case needs a name", node);
  const name = stringOf(ctx, f.name!, "a case's name");
  if (!f.port) ctx.fail(`case "${name}" needs a port (like 80/tcp)`, node);
  const port = portOf(ctx, f.port!);
  if (!f.expect) ctx.fail(`case "${name}" needs an expect matrix`, node);
  const matrix = matrixOf(ctx, f.expect!, ids);
  return { name, port, ...matrix, origin: ctx.at(node) };
}

/** A token of the matrix, where it is in the file. */
interface Token {
  text: string;
  origin: Origin;
}

/**
 * Reads the matrix: a header row (a corner token, then the servers), then one
 * row per client (its id, then one cell per server: "." or "X"). `#` starts a
 * comment. The diagonal cell may be anything ("-" reads well).
 */
function matrixOf(
  ctx: Ctx,
  node: Node,
  ids: Set<string>,
): Pick<TestCase, "clients" | "servers" | "expect"> {
  if (!isScalar(node) || typeof node.value !== "string")
    return ctx.fail("expect is a matrix in a block (expect: |)", node);
  const rows = tokenRows(ctx, node as Scalar<string>);
  if (rows.length < 2)
    return ctx.fail("expect needs a header row of servers and at least one client row", node);
  const [header, ...body] = rows;
  const servers = header!.slice(1).map((t) => known(t, ids));
  if (servers.length === 0) ctx.fail("the header row names no servers", node);
  const dup = (list: string[], t: Token[], what: string) => {
    const i = list.findIndex((id, j) => list.indexOf(id) !== j);
    if (i >= 0) throw new PolicyError(`${what} ${list[i]} appears twice`, t[i]!.origin);
  };
  dup(servers, header!.slice(1), "server");
  const clients: string[] = [];
  const expect = new Map<string, Map<string, boolean>>();
  for (const row of body) {
    const client = known(row[0]!, ids);
    const cells = row.slice(1);
    if (cells.length !== servers.length) {
      const where = cells[servers.length]?.origin ?? row[row.length - 1]!.origin;
      // The usual slip: a header without its corner cell.
      const hint =
        cells.length === servers.length + 1 && ids.has(header![0]!.text)
          ? " (the header row starts with a corner cell, like -)"
          : "";
      throw new PolicyError(
        `row ${client} has ${cells.length} cells for ${servers.length} servers${hint}`,
        where,
      );
    }
    clients.push(client);
    const out = new Map<string, boolean>();
    cells.forEach((cell, i) => {
      const server = servers[i]!;
      if (server === client) return;
      if (cell.text !== "." && cell.text !== "X")
        throw new PolicyError(
          `invalid cell "${cell.text}" (${client} -> ${server}): expected . (reaches) or X (does not)`,
          cell.origin,
        );
      out.set(server, cell.text === ".");
    });
    expect.set(client, out);
  }
  dup(
    clients,
    body.map((r) => r[0]!),
    "client",
  );
  return { clients, servers, expect };
}

function known(token: Token, ids: Set<string>): string {
  if (!ids.has(token.text))
    throw new PolicyError(`unknown workload "${token.text}" (not in workloads)`, token.origin);
  return token.text;
}

/** The matrix's non-empty lines as tokens, each with its place in the file.
 * A literal block (`|`) keeps lines one to one with the file, so places are
 * exact; any other style points at the value's start. */
function tokenRows(ctx: Ctx, node: Scalar<string>): Token[][] {
  const start = node.range?.[0] ?? 0;
  const exact = node.type === "BLOCK_LITERAL";
  const headerLine = ctx.lineCounter.linePos(start).line;
  const fileLines = ctx.text.split("\n");
  const rows: Token[][] = [];
  node.value.split("\n").forEach((line, i) => {
    const content = line.replace(/(^|\s)#.*$/, "");
    // The file line holding this value line (1-based) and its indentation.
    const fileLine = headerLine + 1 + i;
    const raw = (fileLines[fileLine - 1] ?? "").replace(/\r$/, "");
    const indent = exact && line.length > 0 ? raw.length - line.length : 0;
    const tokens: Token[] = [];
    for (const m of content.matchAll(/\S+/g)) {
      const origin = exact
        ? { file: ctx.file, line: fileLine, column: indent + m.index + 1 }
        : ctx.at(node);
      tokens.push({ text: m[0], origin });
    }
    if (tokens.length) rows.push(tokens);
  });
  return rows;
}
