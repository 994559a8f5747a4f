import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { Selector } from "./model.ts";
import { formatSelector, matchesSelector, parseSelector, SelectorSyntaxError } from "./selector.ts";

const eq = (key: string, value: string): Selector => ({ op: "eq", key, value });

describe("parseSelector", () => {
  it("reads every operator", () => {
    const cases: [string, Selector][] = [
      ["all()", { op: "all" }],
      ["all( )", { op: "all" }],
      ["has(app)", { op: "has", key: "app" }],
      ["has( app )", { op: "has", key: "app" }],
      ["!has(app)", { op: "not", arg: { op: "has", key: "app" } }],
      ['app == "web"', eq("app", "web")],
      ["app=='web'", eq("app", "web")],
      ['app != "web"', { op: "ne", key: "app", value: "web" }],
      ['tier in {"a", "b"}', { op: "in", key: "tier", values: ["a", "b"] }],
      ["tier in {}", { op: "in", key: "tier", values: [] }],
      ["tier not in {'a'}", { op: "notin", key: "tier", values: ["a"] }],
      ['name contains "eb"', { op: "contains", key: "name", value: "eb" }],
      ['name starts with "w"', { op: "startswith", key: "name", value: "w" }],
      ['name ends with "b"', { op: "endswith", key: "name", value: "b" }],
      ['!app == "web"', { op: "not", arg: eq("app", "web") }],
      ["!!has(a)", { op: "not", arg: { op: "not", arg: { op: "has", key: "a" } } }],
    ];
    for (const [text, sel] of cases) assert.deepEqual(parseSelector(text), sel, text);
  });

  it("reads label keys with / . - _ and keys that look like keywords", () => {
    assert.deepEqual(
      parseSelector('com.docker.stack.namespace == "web"'),
      eq("com.docker.stack.namespace", "web"),
    );
    assert.deepEqual(parseSelector("has(kubernetes.io/metadata.name)"), {
      op: "has",
      key: "kubernetes.io/metadata.name",
    });
    assert.deepEqual(parseSelector('my_key-2 == "x"'), eq("my_key-2", "x"));
    assert.deepEqual(parseSelector('has == "x"'), eq("has", "x"));
    assert.deepEqual(parseSelector('all == "x"'), eq("all", "x"));
    assert.deepEqual(parseSelector('index in {"x"}'), { op: "in", key: "index", values: ["x"] });
  });

  it("keeps quotes of the other kind, spaces and operators inside strings", () => {
    assert.deepEqual(parseSelector(`a == 'say "hi"'`), eq("a", 'say "hi"'));
    assert.deepEqual(parseSelector(`a == "it's"`), eq("a", "it's"));
    assert.deepEqual(parseSelector('a == " && || ( "'), eq("a", " && || ( "));
    assert.deepEqual(parseSelector('a == ""'), eq("a", ""));
  });

  it("binds ! tighter than && tighter than ||", () => {
    const a = eq("a", "1");
    const b = eq("b", "2");
    const c = eq("c", "3");
    assert.deepEqual(parseSelector('a == "1" || b == "2" && c == "3"'), {
      op: "or",
      args: [a, { op: "and", args: [b, c] }],
    });
    assert.deepEqual(parseSelector('a == "1" && b == "2" || c == "3"'), {
      op: "or",
      args: [{ op: "and", args: [a, b] }, c],
    });
    assert.deepEqual(parseSelector('!a == "1" && b == "2"'), {
      op: "and",
      args: [{ op: "not", arg: a }, b],
    });
    assert.deepEqual(parseSelector('(a == "1" || b == "2") && c == "3"'), {
      op: "and",
      args: [{ op: "or", args: [a, b] }, c],
    });
    assert.deepEqual(parseSelector('!(a == "1" || b == "2")'), {
      op: "not",
      arg: { op: "or", args: [a, b] },
    });
  });

  it("flattens chains of one operator however they are grouped", () => {
    const flat = parseSelector("has(a) && has(b) && has(c)");
    assert.deepEqual(parseSelector("(has(a) && has(b)) && has(c)"), flat);
    assert.deepEqual(parseSelector("has(a) && (has(b) && has(c))"), flat);
    assert.equal(flat.op === "and" && flat.args.length, 3);
  });

  it("reads an empty selector as all()", () => {
    assert.deepEqual(parseSelector(""), { op: "all" });
    assert.deepEqual(parseSelector("  \n"), { op: "all" });
  });

  it("reports errors with the 1-based column of the culprit", () => {
    const cases: [string, number, RegExp][] = [
      ["app", 4, /after label 'app'/],
      ['app = "x"', 5, /unexpected '='/],
      ["app == web", 8, /expected a quoted string/],
      ['app == "web', 8, /unterminated string/],
      ["app == 'web\"", 8, /unterminated string/],
      ["has(app) &&", 12, /end of selector/],
      ["has(app) & has(b)", 10, /unexpected '&'/],
      ["has(app) has(b)", 10, /expected '&&', '\|\|' or the end/],
      ["(has(a) || has(b)", 18, /expected '\)' to close '\(' at 1/],
      ["has()", 5, /expected a label key/],
      ["has(a b)", 7, /expected '\)'/],
      ["all(x)", 5, /all\(\) takes no argument/],
      ['a in {"x" "y"}', 11, /expected ',' or '}'/],
      ['a in "x"', 6, /expected '{'/],
      ['a not {"x"}', 7, /expected 'in' after 'not'/],
      ['a starts "x"', 10, /expected 'with'/],
      ['a ends "x"', 8, /expected 'with'/],
      ["!", 2, /expected a label key/],
      ['a == "x")', 9, /unexpected '\)'/],
      ["||", 1, /expected a label key/],
    ];
    for (const [text, column, message] of cases) {
      assert.throws(
        () => parseSelector(text),
        (err: unknown) => {
          assert.ok(err instanceof SelectorSyntaxError, text);
          assert.equal(err.column, column, text);
          assert.match(err.message, message, text);
          return true;
        },
      );
    }
  });
});

describe("matchesSelector", () => {
  const labels = { app: "web", tier: "front", "kubernetes.io/metadata.name": "shop" };
  const yes = (text: string) =>
    assert.equal(matchesSelector(parseSelector(text), labels), true, text);
  const no = (text: string) =>
    assert.equal(matchesSelector(parseSelector(text), labels), false, text);

  it("compares values", () => {
    yes('app == "web"');
    no('app == "db"');
    no('missing == ""');
    yes('app != "db"');
    no('app != "web"');
    yes('missing != "x"'); // an absent label is "not equal"
    yes('tier in {"back", "front"}');
    no('tier in {"back"}');
    no('missing in {"x"}');
    no("tier in {}");
    yes('tier not in {"back"}');
    no('tier not in {"front"}');
    yes('missing not in {"x"}');
  });

  it("tests presence", () => {
    yes("has(app)");
    no("has(missing)");
    yes("!has(missing)");
    yes("all()");
    yes("");
    no("!all()");
  });

  it("does string tests only on labels that are there", () => {
    yes('app contains "e"');
    yes('app contains ""');
    no('app contains "x"');
    yes('app starts with "we"');
    no('app starts with "eb"');
    yes('app ends with "eb"');
    no('app ends with "we"');
    no('missing contains ""');
    no('missing starts with ""');
    no('missing ends with ""');
  });

  it("combines", () => {
    yes('app == "web" && tier == "front"');
    no('app == "web" && tier == "back"');
    yes('app == "db" || tier == "front"');
    no('app == "db" || tier == "back"');
    yes('!(app == "db" || tier == "back")');
    yes('app == "db" || app == "web" && has(kubernetes.io/metadata.name)');
  });

  it("does not see inherited properties as labels", () => {
    assert.equal(matchesSelector(parseSelector("has(constructor)"), {}), false);
    assert.equal(matchesSelector(parseSelector('toString != "x"'), {}), true);
  });
});

describe("formatSelector", () => {
  it("prints canonical text", () => {
    const cases: [string, string][] = [
      ["", "all()"],
      ["has( a )", "has(a)"],
      ["!has(a)", "!has(a)"],
      ["a=='x'", 'a == "x"'],
      [`a == 'say "hi"'`, `a == 'say "hi"'`],
      ["a!='x'", 'a != "x"'],
      ["a in {'x','y'}", 'a in {"x", "y"}'],
      ["a not in {}", "a not in {}"],
      ["a contains 'x'", 'a contains "x"'],
      ["a starts with 'x'", 'a starts with "x"'],
      ["a ends with 'x'", 'a ends with "x"'],
      ["!a == 'x'", '!(a == "x")'],
      ["(has(a) && has(b)) || has(c)", "has(a) && has(b) || has(c)"],
      ["(has(a) || has(b)) && has(c)", "(has(a) || has(b)) && has(c)"],
      ["!(has(a) && has(b))", "!(has(a) && has(b))"],
    ];
    for (const [text, canonical] of cases) {
      assert.equal(formatSelector(parseSelector(text)), canonical, text);
    }
  });

  it("parses back to the same selector", () => {
    const key = fc.constantFrom("app", "tier", "kubernetes.io/metadata.name", "a_b-c.d");
    const value = fc.constantFrom("", "web", "x y", "it's", 'say "hi"', "&&");
    const leaf = fc.oneof(
      fc.constant<Selector>({ op: "all" }),
      key.map((k): Selector => ({ op: "has", key: k })),
      fc
        .tuple(fc.constantFrom("eq", "ne", "contains", "startswith", "endswith"), key, value)
        .map(([op, k, v]) => ({ op, key: k, value: v }) as Selector),
      fc
        .tuple(fc.constantFrom("in", "notin"), key, fc.array(value, { maxLength: 3 }))
        .map(([op, k, vs]) => ({ op, key: k, values: vs }) as Selector),
    );
    const tree = fc.letrec<{ sel: Selector }>((tie) => ({
      sel: fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        leaf,
        tie("sel").map((arg): Selector => ({ op: "not", arg })),
        fc
          .tuple(fc.constantFrom("and", "or"), fc.array(tie("sel"), { minLength: 2, maxLength: 3 }))
          .map(([op, args]) => ({ op, args }) as Selector),
      ),
    })).sel;
    fc.assert(
      fc.property(tree, (sel) => {
        const text = formatSelector(sel);
        const back = parseSelector(text);
        // The parser flattens nested same-op chains; the text is the fixpoint.
        assert.equal(formatSelector(back), text);
        const labels = { app: "web", tier: "", "a_b-c.d": 'say "hi"' };
        assert.equal(matchesSelector(back, labels), matchesSelector(sel, labels));
      }),
    );
  });
});
