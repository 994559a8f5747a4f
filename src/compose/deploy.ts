// A service's `deploy:` → how many tasks it runs, how it is reached, its
// service labels and where its tasks may be placed.
import type { ServiceSpec } from "../core/model.ts";
import type { Position } from "./errors.ts";
import { DEPLOY_KEYS, DEPLOY_READ, PLACEMENT_KEYS, PLACEMENT_READ } from "./keys.ts";
import { fail, isNull, type Loader, str, stringMap, strList, uint } from "./reader.ts";
import type { CNode } from "./tree.ts";

export interface Deploy {
  mode: ServiceSpec["mode"];
  endpointMode: "vip" | "dnsrr";
  /** `deploy.labels`: the service's labels (`labels` are the containers'). */
  labels: Record<string, string>;
  /** `deploy.placement.constraints`, duplicates dropped (the merge rule). */
  constraints: string[];
}

/** `node` is the service's `deploy` value, `path` the service's path
 * (`services.web`); without `deploy:` a service runs one replica behind a VIP. */
export function deploy(loader: Loader, node: CNode | undefined, path: string): Deploy {
  let mode: ServiceSpec["mode"] = { replicated: { replicas: 1 } };
  let endpointMode: "vip" | "dnsrr" = "vip";
  let labels: Record<string, string> = {};
  let constraints: { value: string; pos: Position }[] = [];
  if (node && !isNull(node)) {
    const d = loader.fields(node, `${path}.deploy`, DEPLOY_KEYS, DEPLOY_READ);
    const modeNode = d.get("mode");
    const modeText = isNull(modeNode) ? "replicated" : str(modeNode!, `${path}.deploy.mode`);
    const replicasNode = d.get("replicas");
    const replicas = isNull(replicasNode)
      ? undefined
      : uint(replicasNode!, `${path}.deploy.replicas`);
    if (modeText === "global") {
      if (replicas !== undefined)
        fail(replicasNode!.pos, "replicas can only be used with replicated mode");
      mode = { global: {} };
    } else if (modeText === "replicated") {
      mode = { replicated: { replicas: replicas ?? 1 } };
    } else if (modeText === "replicated-job" || modeText === "global-job") {
      fail(
        modeNode!.pos,
        `${path}.deploy.mode: ${modeText} is not supported by swarmnet (services only)`,
      );
    } else {
      fail(modeNode!.pos, `${path}.deploy.mode: unknown mode: ${modeText}`);
    }
    const em = d.get("endpoint_mode");
    if (!isNull(em)) {
      const text = str(em!, `${path}.deploy.endpoint_mode`);
      if (text !== "vip" && text !== "dnsrr") {
        fail(em!.pos, `${path}.deploy.endpoint_mode: must be one of the following: "vip", "dnsrr"`);
      }
      endpointMode = text;
    }
    if (!isNull(d.get("labels"))) labels = stringMap(d.get("labels")!, `${path}.deploy.labels`);
    const placement = d.get("placement");
    if (!isNull(placement)) {
      const pl = loader.fields(
        placement!,
        `${path}.deploy.placement`,
        PLACEMENT_KEYS,
        PLACEMENT_READ,
      );
      const c = pl.get("constraints");
      if (!isNull(c)) constraints = strList(c!, `${path}.deploy.placement.constraints`);
    }
  }
  const seenConstraint = new Set<string>();
  constraints = constraints.filter(
    (c) => !seenConstraint.has(c.value) && seenConstraint.add(c.value),
  );
  return { mode, endpointMode, labels, constraints: constraints.map((c) => c.value) };
}
