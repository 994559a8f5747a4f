// What a user may ask for when creating a network, checked before anything
// is allocated. Address checks (CIDRs, gateway, overlap) belong to the IPAM.
import { invalid } from "./errors.ts";
import type { NetworkDriver } from "./model.ts";

export interface NetworkCreateRequest {
  name: string;
  driver?: string;
  attachable?: boolean;
  internal?: boolean;
  ingress?: boolean;
  ipam?: {
    subnet?: string;
    gateway?: string;
    ipRange?: string;
    auxAddresses?: Record<string, string>;
  }[];
  options?: Record<string, string>;
  labels?: Record<string, string>;
}

export const MTU_OPTION = "com.docker.network.driver.mtu";
export const VXLAN_ID_OPTION = "com.docker.network.driver.overlay.vxlanid_list";
export const ENCRYPTED_OPTION = "encrypted";

/** Options each user-creatable driver understands; anything else is refused. */
const DRIVER_OPTIONS: Record<string, Set<string>> = {
  overlay: new Set([ENCRYPTED_OPTION, MTU_OPTION, VXLAN_ID_OPTION]),
  bridge: new Set([MTU_OPTION, "com.docker.network.bridge.name"]),
  macvlan: new Set([MTU_OPTION, "parent", "macvlan_mode"]),
};

const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
export const MIN_MTU = 68;
export const MAX_MTU = 65535;

export function validateName(kind: string, name: unknown): string {
  if (typeof name !== "string" || name === "") throw invalid(`${kind} name must not be empty`);
  if (!NAME_PATTERN.test(name) || name.length > 63) {
    throw invalid(
      `invalid ${kind} name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at most 63 characters`,
    );
  }
  return name;
}

export function validateLabels(labels: unknown, what = "label"): Record<string, string> {
  if (labels === undefined || labels === null) return {};
  if (typeof labels !== "object" || Array.isArray(labels))
    throw invalid(`${what}s must be an object of strings`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) {
    if (k === "") throw invalid(`invalid ${what}: the key must not be empty`);
    if (typeof v !== "string") throw invalid(`invalid ${what} ${k}: the value must be a string`);
    out[k] = v;
  }
  return out;
}

export interface CheckedNetworkRequest {
  name: string;
  driver: NetworkDriver;
  attachable: boolean;
  internal: boolean;
  ingress: boolean;
  ipam: {
    subnet?: string;
    gateway?: string;
    ipRange?: string;
    auxAddresses: Record<string, string>;
  }[];
  options: Record<string, string>;
  labels: Record<string, string>;
  mtu?: number;
  vni?: number;
}

export function checkNetworkRequest(req: NetworkCreateRequest): CheckedNetworkRequest {
  if (typeof req !== "object" || req === null)
    throw invalid("the request body must be a JSON object");
  const name = validateName("network", req.name);
  const driver = req.driver ?? "overlay";
  if (typeof driver !== "string" || !(driver in DRIVER_OPTIONS)) {
    throw invalid(
      `plugin "${String(driver)}" not found (swarmnet's drivers are overlay, bridge and macvlan)`,
    );
  }
  const ingress = req.ingress === true;
  const attachable = req.attachable === true;
  const internal = req.internal === true;
  if (ingress && driver !== "overlay")
    throw invalid("only overlay networks can be ingress networks");
  if (ingress && attachable) throw invalid("ingress network cannot be attachable");
  if (ingress && internal) throw invalid("ingress network cannot be internal");
  const options = validateLabels(req.options, "option");
  const allowed = DRIVER_OPTIONS[driver]!;
  for (const key of Object.keys(options)) {
    if (!allowed.has(key)) {
      throw invalid(
        `unknown option "${key}" for the ${driver} driver (known: ${[...allowed].sort().join(", ")})`,
      );
    }
  }
  let mtu: number | undefined;
  if (options[MTU_OPTION] !== undefined) {
    const text = options[MTU_OPTION];
    mtu = Number(text);
    if (!/^\d+$/.test(text) || mtu < MIN_MTU || mtu > MAX_MTU) {
      throw invalid(`invalid MTU "${text}": must be a number between ${MIN_MTU} and ${MAX_MTU}`);
    }
  }
  let vni: number | undefined;
  if (options[VXLAN_ID_OPTION] !== undefined) {
    const text = options[VXLAN_ID_OPTION];
    vni = Number(text);
    if (!/^\d+$/.test(text) || vni < 1 || vni > 16777215) {
      throw invalid(`invalid VXLAN id "${text}": must be a single number between 1 and 16777215`);
    }
  }
  if (
    ENCRYPTED_OPTION in options &&
    options[ENCRYPTED_OPTION] !== "" &&
    options[ENCRYPTED_OPTION] !== "true"
  ) {
    throw invalid(`option "encrypted" takes no value`);
  }
  if (driver === "macvlan" && !options["parent"]) {
    throw invalid("the macvlan driver needs a parent interface: --opt parent=IFNAME");
  }
  const ipamIn = req.ipam ?? [];
  if (!Array.isArray(ipamIn)) throw invalid("ipam must be a list of address configurations");
  if (ipamIn.length > 1) throw invalid("swarmnet supports one IPv4 subnet per network");
  const ipam = ipamIn.map((c) => {
    if (typeof c !== "object" || c === null)
      throw invalid("each ipam configuration must be an object");
    for (const f of ["subnet", "gateway", "ipRange"] as const) {
      if (c[f] !== undefined && typeof c[f] !== "string")
        throw invalid(`ipam ${f} must be a string`);
    }
    if ((c.gateway || c.ipRange || Object.keys(c.auxAddresses ?? {}).length > 0) && !c.subnet) {
      throw invalid("gateway, ip-range and aux-address need an explicit --subnet");
    }
    return {
      subnet: c.subnet || undefined,
      gateway: c.gateway || undefined,
      ipRange: c.ipRange || undefined,
      auxAddresses: validateLabels(c.auxAddresses, "aux-address"),
    };
  });
  return {
    name,
    driver: driver as NetworkDriver,
    attachable,
    internal,
    ingress,
    ipam,
    options,
    labels: validateLabels(req.labels),
    mtu,
    vni,
  };
}
