// Stored network policies: apply (all or nothing, replacing by name, as
// `kubectl apply`), list, remove; and the cluster model `reach` and `explain`
// evaluate against. Parsing and judging are the policy modules'; this file
// only ties them to the manager's state and transactions.
import { invalid, notFound } from "../core/errors.ts";
import { newId } from "../core/ids.ts";
import type { StoredPolicy } from "../core/model.ts";
import { type ClusterModel, clusterModel } from "../policy/cluster.ts";
import { comparePolicies, documentAt, type LoadedFile, parsePolicyFiles } from "../policy/load.ts";
import { type Policy, PolicyError } from "../policy/model.ts";
import { policyWarnings } from "../policy/warnings.ts";
import type { Manager } from "./manager.ts";
import type { ClusterState } from "./state.ts";

export interface ApplyResult {
  applied: { name: string; created: boolean }[];
  warnings: string[];
}

/** Checks the request body: `{files: [{file, text}]}`. */
export function checkApplyRequest(body: unknown): LoadedFile[] {
  const files = (body as { files?: unknown } | undefined)?.files;
  if (!Array.isArray(files) || files.length === 0)
    throw invalid("policy apply needs files: [{file, text}]");
  return files.map((f: { file?: unknown; text?: unknown }) => {
    if (typeof f?.file !== "string" || typeof f.text !== "string")
      throw invalid("each file needs a file name and its text");
    return { file: f.file, text: f.text };
  });
}

export async function applyPolicies(manager: Manager, files: LoadedFile[]): Promise<ApplyResult> {
  let parsed: { policy: Policy; file: LoadedFile }[];
  try {
    // One parse of every file: a mistake anywhere stores nothing.
    parsed = parsePolicyFiles(files).map((policy) => ({
      policy,
      file: files.find((f) => f.file === policy.origin.file) ?? files[0]!,
    }));
  } catch (err) {
    if (err instanceof PolicyError) throw invalid(err.message);
    throw err;
  }
  const applied = await manager.transact((tx) =>
    parsed.map(({ policy, file }) => {
      const old = tx.state.list("policies").find((p) => p.name === policy.name);
      // Its own document, not the whole file: a file of 1,000 policies must
      // not be stored 1,000 times.
      const document = documentAt(file.text, policy.origin.line);
      tx.put("policies", {
        id: old?.id ?? newId(),
        version: 0,
        createdAt: tx.now,
        updatedAt: tx.now,
        name: policy.name,
        file: file.file,
        text: document.text,
        line: document.line,
        policy,
      });
      return { name: policy.name, created: old === undefined };
    }),
  );
  const model = modelOf(manager.state);
  const warnings = policyWarnings(
    parsed.map((p) => p.policy),
    model.workloads.map((w) => w.workload),
  );
  return { applied, warnings };
}

export async function removePolicy(manager: Manager, name: string): Promise<void> {
  await manager.transact((tx) => {
    tx.delete("policies", findPolicy(tx.state, name).id);
  });
}

export function findPolicy(state: ClusterState, name: string): StoredPolicy {
  const found = state.list("policies").find((p) => p.name === name);
  if (!found) throw notFound(`No such policy: ${name}`);
  return found;
}

/** Stored policies in evaluation order (order, then name). */
export function storedPolicies(state: ClusterState): StoredPolicy[] {
  return state.list("policies").sort((a, b) => comparePolicies(a.policy, b.policy));
}

export function modelOf(state: ClusterState): ClusterModel {
  return clusterModel({
    services: state.list("services"),
    tasks: state.list("tasks"),
    containers: state.list("containers"),
    networks: state.list("networks"),
  });
}
