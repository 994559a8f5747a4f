import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isSwarmnetError } from "../core/errors.ts";
import { compileTemplate } from "./template.ts";

const net = {
  Name: "ov1",
  Id: "abc123",
  Attachable: true,
  Internal: false,
  IPAM: {
    Config: [
      { Subnet: "10.0.1.0/24", Gateway: "10.0.1.1" },
      { Subnet: "10.0.9.0/24", Gateway: "10.0.9.1" },
    ],
  },
  Options: { "com.docker.network.driver.overlay.vxlanid_list": "4097" },
  Labels: { tier: "back", team: "Blue" },
  Aliases: ["web", "www"],
  Nothing: null,
  Count: 3,
};

const render = (format: string, dot: unknown = net) => compileTemplate(format)(dot);

/** compileTemplate(format) or its rendering throws a user error whose message matches. */
function refuses(format: string, message: RegExp, dot: unknown = net): void {
  assert.throws(
    () => render(format, dot),
    (err: unknown) => isSwarmnetError(err, "INVALID_ARGUMENT") && message.test(err.message),
    format,
  );
}

describe("Go templates (--format)", () => {
  it("prints fields, and text around them as it is", () => {
    assert.equal(render("{{.Name}}"), "ov1");
    assert.equal(render("name={{.Name}} id={{.Id}}!"), "name=ov1 id=abc123!");
    assert.equal(render("{{ .Name }}"), "ov1");
    assert.equal(render("plain text"), "plain text");
    assert.equal(render(""), "");
  });

  it("prints values as Go's %v does", () => {
    assert.equal(render("{{.Attachable}} {{.Internal}} {{.Count}}"), "true false 3");
    assert.equal(render("{{.Aliases}}"), "[web www]");
    assert.equal(render("{{.Labels}}"), "map[team:Blue tier:back]", "maps in key order");
    assert.equal(render("{{.Nothing}}"), "<nil>");
    assert.equal(render("{{.}}", "just a string"), "just a string");
  });

  it("follows nested fields", () => {
    assert.equal(
      render("{{.IPAM.Config}}"),
      "[map[Gateway:10.0.1.1 Subnet:10.0.1.0/24] map[Gateway:10.0.9.1 Subnet:10.0.9.0/24]]",
    );
    assert.equal(render("{{.A.B.C}}", { A: { B: { C: "deep" } } }), "deep");
  });

  it("json prints JSON, as a function or at the end of a pipe", () => {
    assert.equal(render("{{json .Labels}}"), '{"tier":"back","team":"Blue"}');
    assert.equal(render("{{.Labels | json}}"), '{"tier":"back","team":"Blue"}');
    assert.equal(render("{{json .Name}}"), '"ov1"');
    assert.equal(render("{{json .Aliases}}"), '["web","www"]');
    assert.equal(render("{{json .Nothing}}"), "null");
    assert.deepEqual(JSON.parse(render("{{json .}}")), net);
  });

  it("index looks up keys Go field syntax cannot name, and list elements", () => {
    assert.equal(
      render('{{index .Options "com.docker.network.driver.overlay.vxlanid_list"}}'),
      "4097",
    );
    assert.equal(render('{{index .Labels "tier"}}'), "back");
    assert.equal(render("{{index .Aliases 1}}"), "www");
    assert.equal(render('{{index .Labels "nope"}}'), "<no value>");
  });

  it("range repeats its body for each element, with the element as dot", () => {
    assert.equal(render("{{range .IPAM.Config}}{{.Subnet}}{{end}}"), "10.0.1.0/2410.0.9.0/24");
    assert.equal(
      render("{{range .IPAM.Config}}{{.Subnet}} via {{.Gateway}};{{end}}"),
      "10.0.1.0/24 via 10.0.1.1;10.0.9.0/24 via 10.0.9.1;",
    );
    assert.equal(render("[{{range .Aliases}}<{{.}}>{{end}}]"), "[<web><www>]");
    assert.equal(
      render("{{range .Labels}}{{.}},{{end}}").split(",").sort().join(","),
      ",Blue,back",
    );
    assert.equal(render("a{{range .Empty}}x{{end}}b", { Empty: [] }), "ab");
    assert.equal(
      render("{{range .Outer}}({{range .Inner}}{{.}}{{end}}){{end}}", {
        Outer: [{ Inner: [1, 2] }, { Inner: [3] }],
      }),
      "(12)(3)",
    );
  });

  it("join, upper, lower, len and println", () => {
    assert.equal(render('{{join .Aliases ", "}}'), "web, www");
    assert.equal(render('{{join .Aliases ""}}'), "webwww");
    assert.equal(render("{{upper .Name}}"), "OV1");
    assert.equal(render('{{index .Labels "team" | lower}}'), "blue");
    assert.equal(render('{{lower "ABC"}}'), "abc");
    assert.equal(render("{{len .Aliases}}"), "2");
    assert.equal(render("{{len .Labels}}"), "2");
    assert.equal(render("{{len .IPAM.Config}}"), "2");
    assert.equal(render("{{println .Name}}x"), "ov1\nx");
  });

  it("pipes one command's value into the next as its last argument", () => {
    assert.equal(render("{{.Name | upper}}"), "OV1");
    assert.equal(render("{{.Name | upper | lower}}"), "ov1");
    assert.equal(render("{{.Name | json | upper}}"), '"OV1"');
    assert.equal(render("{{.Aliases | len}}"), "2");
    assert.equal(render("{{.IPAM.Config | json}}"), JSON.stringify(net.IPAM.Config));
  });

  it("reads Docker's \\t and \\n escapes, and tolerates trim markers", () => {
    assert.equal(render("{{.Name}}\\t{{.Id}}"), "ov1\tabc123");
    assert.equal(render("{{.Name}}\\n{{.Id}}"), "ov1\nabc123");
    assert.equal(render("{{- .Name -}}"), "ov1");
  });

  it("compiles once and renders many objects", () => {
    const name = compileTemplate("{{.Name}}:{{len .Aliases}}");
    assert.equal(name({ Name: "a", Aliases: [] }), "a:0");
    assert.equal(name({ Name: "b", Aliases: ["x"] }), "b:1");
  });

  it("refuses broken templates when compiled, before any object is seen", () => {
    for (const [format, message] of [
      ["{{range .Aliases}}{{.}}", /^template: unexpected EOF \(missing \{\{end\}\}\)/],
      ["{{range .A}}{{range .B}}{{end}}", /missing \{\{end\}\}/],
      ["{{.Name}}{{end}}", /^template: unexpected \{\{end\}\}/],
    ] as const) {
      assert.throws(
        () => compileTemplate(format),
        (err: unknown) => isSwarmnetError(err, "INVALID_ARGUMENT") && message.test(err.message),
        format,
      );
    }
    assert.match(
      (() => {
        try {
          compileTemplate("{{range .X}}");
          return "";
        } catch (err) {
          return (err as Error).message;
        }
      })(),
      /in "\{\{range \.X\}\}"$/,
      "the error quotes the template",
    );
  });

  it("refuses, when rendering, fields that are not there and functions it does not know", () => {
    refuses("{{.Missing}}", /^template: can't evaluate field Missing/);
    refuses("{{.Name.Length}}", /^template: can't evaluate field Length in type string/);
    refuses("{{.Nothing.X}}", /^template: can't evaluate field X in type nil/);
    refuses("{{frobnicate .Name}}", /^template: function "frobnicate" not defined/);
    refuses("{{.Name | frobnicate}}", /^template: function "frobnicate" not defined/);
    refuses("{{}}", /^template: empty command/);
    refuses("{{upper Name}}", /^template: unknown argument "Name"/);
  });
});
