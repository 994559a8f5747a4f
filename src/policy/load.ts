// Policy files → Policy[]: YAML documents (several per file), files and
// folders, Calico and Kubernetes spellings. All or nothing: the first problem
// anywhere throws a PolicyError pointing at it, so a bad file never leaves a
// half-applied set.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import jsyaml from "js-yaml";
import { isScalar, LineCounter, parseAllDocuments } from "yaml";
import { CALICO_API_VERSION, compileCalico } from "./compile.ts";
import { compileKubernetes, K8S_API_VERSION } from "./k8s.ts";
import { type Policy, PolicyError } from "./model.ts";
import {
  type At,
  fail,
  fields,
  list,
  originAt,
  peekField,
  type Source,
  string,
} from "./yaml-node.ts";

export interface LoadedFile {
  file: string;
  text: string;
}

/** Reads files/folders (relative to baseDir) into policies; throws PolicyError on the first problem. */
export function loadPolicyPaths(paths: string[], baseDir: string): Policy[] {
  return parsePolicyFiles(readPolicyFiles(paths, baseDir));
}

/**
 * Reads the files named: a file as it is, a folder as its *.yaml and *.yml
 * files (not its subfolders) in name order. File names stay as the user
 * wrote them (joined with the folder entry), so errors read like the command.
 */
export function readPolicyFiles(paths: string[], baseDir: string): LoadedFile[] {
  const out: LoadedFile[] = [];
  const read = (file: string): void => {
    try {
      out.push({ file, text: readFileSync(resolve(baseDir, file), "utf8") });
    } catch (err) {
      throw new PolicyError(`${file}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
  };
  for (const path of paths) {
    let isDir: boolean;
    try {
      isDir = statSync(resolve(baseDir, path)).isDirectory();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new PolicyError(`${path}: ${code === "ENOENT" ? "no such file or directory" : code}`);
    }
    if (!isDir) {
      read(path);
      continue;
    }
    const names = readdirSync(resolve(baseDir, path), { withFileTypes: true })
      .filter((e) => !e.isDirectory() && /\.ya?ml$/.test(e.name))
      .map((e) => e.name)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const name of names) read(join(path, name));
  }
  return out;
}

/** Parses every file; duplicates across files are an error; sorted as evaluated. */
export function parsePolicyFiles(files: LoadedFile[]): Policy[] {
  return finish(files.flatMap((f) => parseFile(f.text, f.file)));
}

/**
 * The text of the YAML document holding line `line` (1-based) of a file, and
 * the line it starts on: what `policy inspect` shows of a policy, instead of
 * the whole file it came from. Documents are cut at `---` and `...` lines
 * (markers sit at the start of a line; a policy never holds one there).
 */
export function documentAt(text: string, line: number): { text: string; line: number } {
  const lines = text.split("\n");
  let start = 0;
  for (let i = 0; i < lines.length; i++) {
    const marker = /^(---|\.\.\.)(\s|$)/.test(lines[i]!);
    if (!marker) continue;
    if (i + 1 >= line) {
      return { text: lines.slice(start, i).join("\n") + (i > start ? "\n" : ""), line: start + 1 };
    }
    start = i + 1;
  }
  return { text: lines.slice(start).join("\n"), line: start + 1 };
}

/** One of the two readers alone (tests: they must agree). */
export function parsePoliciesWith(
  reader: "fast" | "precise",
  text: string,
  file: string,
): Policy[] {
  return finish(reader === "fast" ? parseFast(text, file) : parsePrecise(text, file));
}

/** Parses YAML text (possibly several documents) from one file. */
export function parsePolicies(text: string, file: string): Policy[] {
  return finish(parseFile(text, file));
}

function parseFile(text: string, file: string): Policy[] {
  // The fast reading first; on any problem the precise one, whose error
  // (with its exact position) is the one reported.
  try {
    return parseFast(text, file);
  } catch {
    return parsePrecise(text, file);
  }
}

/** js-yaml with YAML 1.2's core schema (as the `yaml` library reads by
 * default: no merge keys, no timestamps), noting where each mapping and
 * sequence starts. Files with aliases are left to the precise reader. */
function parseFast(text: string, file: string): Policy[] {
  const starts = new WeakMap<object, number>();
  const open: number[] = [];
  const docs: unknown[] = [];
  jsyaml.loadAll(text, (doc) => docs.push(doc), {
    schema: jsyaml.CORE_SCHEMA,
    listener(event, state) {
      if (event === "open") {
        open.push(state.position);
        return;
      }
      const start = open.pop() ?? 0;
      const result = state.result as unknown;
      if (typeof result !== "object" || result === null) return;
      // Where js-yaml began reading; yaml-node.ts skips to the node's own text
      // when (rarely) an origin is asked for.
      const at = start;
      const seen = starts.get(result);
      // A flow collection closes twice at one place; an alias closes with its
      // anchor's very object somewhere else, so one object would stand at
      // two places: leave such a file to the precise reader.
      if (seen !== undefined && seen !== at) throw new Error("alias: read precisely");
      starts.set(result, at);
    },
  });
  const lineStarts = [0];
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) lineStarts.push(i + 1);
  const src: Source = { file, text, fast: { starts, lineStarts } };
  const policies: Policy[] = [];
  for (const doc of docs) {
    if (doc === null || doc === undefined) continue;
    policies.push(...compileDocument({ src, node: null, offset: 0, value: doc }));
  }
  return policies;
}

function parsePrecise(text: string, file: string): Policy[] {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false });
  if (!Array.isArray(docs)) return []; // an empty stream
  const policies: Policy[] = [];
  for (const doc of docs) {
    const src: Source = { file, text, precise: { lines, doc } };
    const error = doc.errors[0];
    if (error) {
      // The YAML library's messages are one line without prettyErrors.
      throw new PolicyError(`invalid YAML: ${error.message}`, originAt(src, error.pos[0]));
    }
    const contents = doc.contents;
    const start = contents?.range?.[0] ?? 0;
    if (contents === null || (isScalar(contents) && contents.value === null)) continue;
    policies.push(...compileDocument({ src, node: contents, offset: start }));
  }
  return policies;
}

const SUPPORTED = `${CALICO_API_VERSION} NetworkPolicy or GlobalNetworkPolicy, ${K8S_API_VERSION} NetworkPolicy`;

function compileDocument(at: At): Policy[] {
  // apiVersion and kind decide which fields are known; look at them first.
  const apiAt = peekField(at, "apiVersion");
  const kindAt = peekField(at, "kind");
  if (!apiAt) fail(at, `apiVersion is required (${SUPPORTED})`);
  if (!kindAt) fail(at, `kind is required (${SUPPORTED})`);
  const api = string(apiAt, "apiVersion");
  const kind = string(kindAt, "kind");
  if (api === CALICO_API_VERSION && (kind === "NetworkPolicy" || kind === "GlobalNetworkPolicy")) {
    return [compileCalico(fields(at, kind, ["apiVersion", "kind", "metadata", "spec"]), kind)];
  }
  if (api === K8S_API_VERSION && kind === "NetworkPolicy") {
    // `status` appears in `kubectl get -o yaml` output; it says nothing.
    return [
      compileKubernetes(fields(at, kind, ["apiVersion", "kind", "metadata", "spec", "status"])),
    ];
  }
  if (api === "v1" && kind === "List") {
    // What `kubectl get networkpolicies -o yaml` prints.
    const f = fields(at, "List", ["apiVersion", "kind", "metadata", "items"]);
    const items = f.get("items");
    return items ? list(items, "items").flatMap(compileDocument) : [];
  }
  if (api !== CALICO_API_VERSION && api !== K8S_API_VERSION && api !== "v1") {
    fail(apiAt, `unsupported apiVersion "${api}" (${SUPPORTED})`);
  }
  return fail(kindAt, `unsupported kind "${kind}" for ${api} (${SUPPORTED})`);
}

/** Rejects two policies of one name, and sorts as Calico evaluates:
 * by order (none: last), then name. */
function finish(policies: Policy[]): Policy[] {
  const seen = new Map<string, Policy>();
  for (const p of policies) {
    const first = seen.get(p.name);
    if (first) {
      const o = first.origin;
      throw new PolicyError(
        `duplicate policy "${p.name}" (first defined at ${o.file}:${o.line}:${o.column})`,
        p.origin,
      );
    }
    seen.set(p.name, p);
  }
  return policies.sort(comparePolicies);
}

export function comparePolicies(a: Policy, b: Policy): number {
  const oa = a.order ?? Number.POSITIVE_INFINITY;
  const ob = b.order ?? Number.POSITIVE_INFINITY;
  if (oa !== ob) return oa < ob ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
