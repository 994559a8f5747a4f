// One entry of `networks:` (or the implicit `default`) → its `POST /v1/networks`
// body, or, for an external network, the name it must already have.
import { checkNetworkRequest, type NetworkCreateRequest } from "../core/network-spec.ts";
import type { Position } from "./errors.ts";
import { IPAM_CONFIG_KEYS, IPAM_KEYS, IPAM_READ, NETWORK_KEYS, NETWORK_READ } from "./keys.ts";
import { STACK_NAMESPACE_LABEL } from "./labels.ts";
import type { StackNetworkPlan } from "./load.ts";
import { asMap, at, bool, fail, isNull, type Loader, str, stringMap, text } from "./reader.ts";
import type { CNode } from "./tree.ts";

/** `ipam`: the `default` driver only, and its `config` entries in the network
 * spec's shape (whose check, made later, refuses what swarmnet cannot do). */
function ipamConfig(
  loader: Loader,
  node: CNode | undefined,
  path: string,
  key: string,
): NonNullable<NetworkCreateRequest["ipam"]> {
  const ipam: NonNullable<NetworkCreateRequest["ipam"]> = [];
  if (!isNull(node)) {
    const i = loader.fields(node!, `${path}.ipam`, IPAM_KEYS, IPAM_READ);
    const drv = i.get("driver");
    if (!isNull(drv) && str(drv!, `${path}.ipam.driver`) !== "default") {
      fail(
        drv!.pos,
        `network "${key}": IPAM driver "${str(drv!, "")}" is not supported (only "default")`,
      );
    }
    const configNode = i.get("config");
    if (!isNull(configNode)) {
      if (configNode!.kind !== "seq") fail(configNode!.pos, `${path}.ipam.config must be a list`);
      configNode!.items.forEach((c, n) => {
        const cp = `${path}.ipam.config.${n}`;
        const cf = loader.fields(c, cp, IPAM_CONFIG_KEYS, IPAM_CONFIG_KEYS);
        const get = (k: string) => (isNull(cf.get(k)) ? undefined : str(cf.get(k)!, `${cp}.${k}`));
        ipam.push({
          subnet: get("subnet"),
          gateway: get("gateway"),
          ipRange: get("ip_range"),
          auxAddresses: isNull(cf.get("aux_addresses"))
            ? {}
            : stringMap(cf.get("aux_addresses")!, `${cp}.aux_addresses`),
        });
      });
    }
  }
  return ipam;
}

export function network(
  loader: Loader,
  stack: string,
  key: string,
  node: CNode,
  keyPos: Position,
): StackNetworkPlan {
  const path = `networks.${key}`;
  const f = loader.fields(node, path, NETWORK_KEYS, NETWORK_READ);
  const ext = f.get("external");
  let external = false;
  let name: string | undefined;
  if (!isNull(ext)) {
    if (ext!.kind === "map") {
      // Legacy: `external: {name: x}`.
      const e = loader.fields(ext!, `${path}.external`, ["name"], ["name"]);
      external = true;
      if (!isNull(e.get("name"))) name = str(e.get("name")!, `${path}.external.name`);
      loader.warnings.push(
        `network ${key}: external.name is deprecated. Please set name and external: true`,
      );
    } else external = bool(ext!, `${path}.external`);
  }
  const nameNode = f.get("name");
  if (!isNull(nameNode)) {
    const n = str(nameNode!, `${path}.name`);
    if (name !== undefined && name !== n) {
      fail(nameNode!.pos, `network ${key}: name and external.name conflict; only use name`);
    }
    name = n;
  }
  if (external) {
    for (const k of [
      "driver",
      "driver_opts",
      "ipam",
      "internal",
      "attachable",
      "labels",
      "enable_ipv6",
    ]) {
      const conflicting = f.get(k);
      if (!isNull(conflicting)) {
        fail(
          conflicting!.pos,
          `conflicting parameters "external" and "${k}" specified for network "${key}"`,
        );
      }
    }
    return { key, name: name ?? key, external: true };
  }
  const driverNode = f.get("driver");
  const driver = isNull(driverNode) ? "overlay" : str(driverNode!, `${path}.driver`);
  if (driver !== "overlay") {
    fail(
      driverNode!.pos,
      `network "${key}" uses driver "${driver}": a stack's networks must use the overlay driver (swarm scope)`,
    );
  }
  const options: Record<string, string> = {};
  const optsNode = f.get("driver_opts");
  if (!isNull(optsNode)) {
    for (const [k, e] of asMap(optsNode!, `${path}.driver_opts`).entries) {
      options[k] = text(e.value, `${path}.driver_opts.${k}`);
    }
  }
  const v6 = f.get("enable_ipv6");
  if (!isNull(v6) && bool(v6!, `${path}.enable_ipv6`))
    fail(v6!.pos, `network "${key}": swarmnet networks are IPv4 only (enable_ipv6)`);
  const v4 = f.get("enable_ipv4");
  if (!isNull(v4) && !bool(v4!, `${path}.enable_ipv4`))
    fail(v4!.pos, `network "${key}": swarmnet networks are IPv4 only (enable_ipv4: false)`);
  const ipam = ipamConfig(loader, f.get("ipam"), path, key);
  const labels = isNull(f.get("labels")) ? {} : stringMap(f.get("labels")!, `${path}.labels`);
  const boolField = (k: string) => (isNull(f.get(k)) ? false : bool(f.get(k)!, `${path}.${k}`));
  const create: NetworkCreateRequest = {
    name: name ?? `${stack}_${key}`,
    driver,
    attachable: boolField("attachable"),
    internal: boolField("internal"),
    ipam,
    options,
    labels: { ...labels, [STACK_NAMESPACE_LABEL]: stack },
  };
  at(node.kind === "scalar" ? keyPos : node.pos, `network "${key}"`, () =>
    checkNetworkRequest(create),
  );
  return { key, name: create.name, external: false, create };
}
