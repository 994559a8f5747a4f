// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are compose interpolation under test
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InterpolationError, interpolate } from "./interpolate.ts";
import { ShellWordsError, splitShellWords } from "./shell-words.ts";

function run(text: string, env: Record<string, string>) {
  const unset: string[] = [];
  const out = interpolate(text, { env, unset: (n) => unset.push(n) });
  return { out, unset };
}

describe("interpolate", () => {
  const env = { A: "a", EMPTY: "", N: "3" };
  it("substitutes $VAR and ${VAR}", () => {
    assert.equal(run("x-$A-${A}y", env).out, "x-a-ay");
    assert.equal(run("$A_B", env).out, "", "the name runs as far as name characters go");
  });
  it("reports unset variables and substitutes the empty string", () => {
    assert.deepEqual(run("[${NOPE}]", env), { out: "[]", unset: ["NOPE"] });
  });
  it("distinguishes :- (unset or empty) from - (unset only)", () => {
    assert.equal(run("${EMPTY:-d}", env).out, "d");
    assert.equal(run("${EMPTY-d}", env).out, "");
    assert.equal(run("${NOPE-d}", env).out, "d");
    assert.equal(run("${A:-d}", env).out, "a");
  });
  it("interpolates defaults, nested", () => {
    assert.equal(run("${NOPE:-${N}0}", env).out, "30");
    assert.equal(run("${NOPE:-${ALSO:-z}}", env).out, "z");
  });
  it("fails on :? and ? with the message", () => {
    assert.throws(
      () => run("${EMPTY:?must be set}", env),
      (e: Error) =>
        e instanceof InterpolationError &&
        e.message === "required variable EMPTY is missing a value: must be set",
    );
    assert.equal(run("${EMPTY?x}", env).out, "");
    assert.throws(() => run("${NOPE?}", env), /required variable NOPE is missing a value$/);
  });
  it("supports :+ and +", () => {
    assert.equal(run("${A:+yes}", env).out, "yes");
    assert.equal(run("${EMPTY:+yes}", env).out, "");
    assert.equal(run("${EMPTY+yes}", env).out, "yes");
  });
  it("reads $$ as a literal dollar, with no lookup", () => {
    assert.deepEqual(run("cost $$5 $${A}", env), { out: "cost $5 ${A}", unset: [] });
  });
  it("refuses malformed references", () => {
    for (const bad of ["${", "${A", "${1A}", "$5", "${A:x}", "a $ b"]) {
      assert.throws(() => run(bad, env), /invalid interpolation format/, bad);
    }
  });
});

describe("splitShellWords", () => {
  it("splits on blanks and honours quotes and escapes", () => {
    assert.deepEqual(splitShellWords('  sh -c \'echo  $HOME\' "a \\"b\\"" c\\ d  '), [
      "sh",
      "-c",
      "echo  $HOME",
      'a "b"',
      "c d",
    ]);
  });
  it("keeps empty quoted words and joins adjacent parts", () => {
    assert.deepEqual(splitShellWords("a '' b\"c\"'d'"), ["a", "", "bcd"]);
  });
  it("refuses unterminated quotes", () => {
    assert.throws(() => splitShellWords("echo 'oops"), ShellWordsError);
    assert.throws(() => splitShellWords('echo "oops'), ShellWordsError);
    assert.throws(() => splitShellWords("echo \\"), ShellWordsError);
  });
});
