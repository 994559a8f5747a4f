import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  documentAt,
  loadPolicyPaths,
  parsePolicies,
  parsePolicyFiles,
  readPolicyFiles,
} from "./load.ts";
import { PolicyError } from "./model.ts";
import { formatSelector } from "./selector.ts";
import { assertPolicyError, calico, k8s } from "./test-helpers.ts";

const gnp = (name: string, order?: number) =>
  `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: ${name}}\n` +
  (order === undefined ? "" : `spec: {order: ${order}}\n`);

describe("parsePolicies", () => {
  it("reads several documents and skips empty ones", () => {
    const text = [
      "# policies for the shop",
      "---",
      gnp("a"),
      "---",
      "# nothing here",
      "---",
      k8s("  podSelector: {}\n"),
      "---",
      "",
    ].join("\n");
    const policies = parsePolicies(text, "p.yaml");
    assert.deepEqual(
      policies.map((p) => [p.name, p.origin.line]),
      [
        ["shop/knp.default.p", 10],
        ["a", 3],
      ],
    );
    assert.deepEqual(parsePolicies("", "p.yaml"), []);
    assert.deepEqual(parsePolicies("# just a comment\n", "p.yaml"), []);
  });

  it("sorts by order, then name; no order last", () => {
    const text = [
      gnp("z", 5),
      gnp("none-b"),
      gnp("b", 100),
      gnp("a", 100),
      gnp("none-a"),
      gnp("y", -1),
    ].join("---\n");
    assert.deepEqual(
      parsePolicies(text, "p.yaml").map((p) => p.name),
      ["y", "z", "a", "b", "none-a", "none-b"],
    );
  });

  it("orders Kubernetes policies at 1000 among Calico ones", () => {
    const text = [gnp("after", 1001), k8s("  podSelector: {}\n"), gnp("before", 999)].join("---\n");
    assert.deepEqual(
      parsePolicies(text, "p.yaml").map((p) => p.name),
      ["before", "shop/knp.default.p", "after"],
    );
  });

  it("rejects two policies of one name, pointing at the second", () => {
    assertPolicyError(
      `${gnp("a")}---\n${gnp("a")}`,
      5,
      1,
      /duplicate policy "a" \(first defined at p.yaml:1:1\)/,
    );
    // The same name in two namespaces, or as a Kubernetes and a Calico policy, is fine.
    const ok = [
      calico("  order: 1\n", "{name: p, namespace: a}"),
      calico("  order: 1\n", "{name: p, namespace: b}"),
      k8s("  podSelector: {}\n", "{name: p, namespace: a}"),
    ].join("---\n");
    assert.equal(parsePolicies(ok, "p.yaml").length, 3);
  });

  it("reads a v1 List of policies, as kubectl prints them", () => {
    const text = [
      "apiVersion: v1",
      "kind: List",
      "metadata: {resourceVersion: ''}",
      "items:",
      "- apiVersion: networking.k8s.io/v1",
      "  kind: NetworkPolicy",
      "  metadata: {name: p, namespace: shop, uid: abc, generation: 1, creationTimestamp: '2024-01-01T00:00:00Z'}",
      "  spec: {podSelector: {}}",
      "  status: {}",
      "",
    ].join("\n");
    const [p] = parsePolicies(text, "p.yaml");
    assert.equal(p!.name, "shop/knp.default.p");
    assert.deepEqual(p!.origin, { file: "p.yaml", line: 5, column: 3 });
  });

  it("follows YAML anchors and aliases", () => {
    const text = [
      "apiVersion: projectcalico.org/v3",
      "kind: NetworkPolicy",
      "metadata: {name: p}",
      "spec:",
      "  ingress:",
      "  - action: Allow",
      "    source: &web {selector: app == 'web'}",
      "  egress:",
      "  - action: Allow",
      "    destination: *web",
      "",
    ].join("\n");
    const [p] = parsePolicies(text, "p.yaml");
    assert.equal(formatSelector(p!.egress[0]!.destination.selector!), 'app == "web"');
  });

  it("finds the text of the document a policy was written in", () => {
    const text = [
      "# policies",
      "apiVersion: v1",
      "kind: List",
      "---",
      "a: 1",
      "b: 2",
      "--- # second",
      "c: 3",
      "...",
      "---",
      "d: 4",
    ].join("\n");
    assert.deepEqual(documentAt(text, 2), {
      text: "# policies\napiVersion: v1\nkind: List\n",
      line: 1,
    });
    assert.deepEqual(documentAt(text, 6), { text: "a: 1\nb: 2\n", line: 5 });
    assert.deepEqual(documentAt(text, 8), { text: "c: 3\n", line: 8 });
    assert.deepEqual(documentAt(text, 11), { text: "d: 4", line: 11 });
  });
});

describe("errors point at the node", () => {
  it("invalid YAML", () => {
    assertPolicyError("apiVersion: v1\nkind: [List\n", 3, 1, /invalid YAML/);
    assertPolicyError("a: 1\na: 2\n", 2, 1, /invalid YAML: Map keys must be unique/);
    assertPolicyError(`${gnp("a")}---\n\tbad: tab\n`, 5, 1, /invalid YAML/);
  });

  it("documents that are not policies", () => {
    assertPolicyError("- a\n- b\n", 1, 1, /must be a mapping/);
    assertPolicyError("kind: NetworkPolicy\n", 1, 1, /apiVersion is required/);
    assertPolicyError("apiVersion: v1\n", 1, 1, /kind is required/);
    assertPolicyError("apiVersion: v1\nkind: Pod\n", 2, 7, /unsupported kind "Pod" for v1/);
    assertPolicyError(
      "apiVersion: projectcalico.org/v3\nkind: NetworkSet\n",
      2,
      7,
      /unsupported kind "NetworkSet"/,
    );
    assertPolicyError(
      "apiVersion: networking.k8s.io/v1beta1\nkind: NetworkPolicy\n",
      1,
      13,
      /unsupported apiVersion "networking.k8s.io\/v1beta1"/,
    );
    assertPolicyError(
      "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: a}\nstatus: {}\n",
      4,
      1,
      /unknown field "status"/,
    );
  });

  it("selectors in the forms YAML writes strings", () => {
    // Plain, single- and double-quoted, literal block: exact columns.
    assertPolicyError(calico("  selector: has(a) && b\n"), 5, 24, /after label 'b'/);
    assertPolicyError(calico("  selector: 'has(a) && b'\n"), 5, 25, /after label 'b'/);
    assertPolicyError(calico('  selector: "has(a) && b"\n'), 5, 25, /after label 'b'/);
    assertPolicyError(calico("  selector: |\n    has(a) &&\n    b\n"), 7, 6, /after label 'b'/);
    // Escapes and folding move characters around: the start of the string.
    assertPolicyError(calico('  selector: "has(a) \\x26 b"\n'), 5, 13, /unexpected '&'/);
    assertPolicyError(calico("  selector: >\n    has(a) &&\n    b\n"), 5, 13, /after label 'b'/);
  });
});

describe("loadPolicyPaths", () => {
  const dir = mkdtempSync(join(tmpdir(), "swarmnet-policy-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, "set", "nested"), { recursive: true });
  writeFileSync(join(dir, "set", "b.yml"), gnp("b"));
  writeFileSync(join(dir, "set", "a.yaml"), `${gnp("a1", 1)}---\n${gnp("a2", 2)}`);
  writeFileSync(join(dir, "set", "notes.txt"), "not yaml: [");
  writeFileSync(join(dir, "set", "nested", "c.yaml"), gnp("c"));
  writeFileSync(join(dir, "single.json"), gnp("s", 0));
  writeFileSync(join(dir, "dup.yaml"), gnp("a1"));
  writeFileSync(
    join(dir, "bad.yaml"),
    `${gnp("fine")}---\n${gnp("broken").replace("{name", "{nme")}`,
  );

  it("reads folders (their *.yaml and *.yml, sorted, not nested) and files", () => {
    assert.deepEqual(
      readPolicyFiles(["set", "single.json"], dir).map((f) => f.file),
      ["set/a.yaml", "set/b.yml", "single.json"],
    );
    // Relative paths are taken from baseDir and reported as written.
    const single = join(dir, "single.json");
    const policies = loadPolicyPaths(["set/", single], dir);
    assert.deepEqual(
      policies.map((p) => [p.name, p.origin.file]),
      [
        ["s", single],
        ["a1", "set/a.yaml"],
        ["a2", "set/a.yaml"],
        ["b", "set/b.yml"],
      ],
    );
  });

  it("rejects duplicates across files, naming both places", () => {
    assert.throws(
      () => loadPolicyPaths(["set", "dup.yaml"], dir),
      (err: unknown) =>
        err instanceof PolicyError &&
        err.message === 'dup.yaml:1:1: duplicate policy "a1" (first defined at set/a.yaml:1:1)',
    );
  });

  it("is all or nothing: one bad document fails the whole load", () => {
    assert.throws(
      () => loadPolicyPaths(["set", "bad.yaml"], dir),
      (err: unknown) =>
        err instanceof PolicyError &&
        err.origin?.file === "bad.yaml" &&
        err.origin.line === 7 &&
        /unknown field "nme"/.test(err.message),
    );
  });

  it("names a missing path", () => {
    assert.throws(
      () => loadPolicyPaths(["nope.yaml"], dir),
      (err: unknown) =>
        err instanceof PolicyError && err.message === "nope.yaml: no such file or directory",
    );
  });

  it("parses files already read", () => {
    const policies = parsePolicyFiles([
      { file: "x.yaml", text: gnp("x") },
      { file: "y.yaml", text: gnp("y", 1) },
    ]);
    assert.deepEqual(
      policies.map((p) => p.name),
      ["y", "x"],
    );
  });
});

describe("shared conformance material", () => {
  const root = "/work/shared/conformance/k8s-netpol";
  let cases: string[] = [];
  try {
    cases = readdirSync(root).sort();
  } catch {
    // Not every checkout has shared/ beside it.
  }
  for (const name of cases) {
    it(`compiles ${name}/policies`, () => {
      const policies = loadPolicyPaths(["policies"], join(root, name));
      assert.ok(policies.length > 0);
      for (const p of policies) {
        assert.equal(p.kind, "KubernetesNetworkPolicy");
        assert.equal(p.order, 1000);
      }
    });
  }
});
