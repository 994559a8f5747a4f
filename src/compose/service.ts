// One entry of `services:` → its `POST /v1/services` body and the networks it
// attaches to (by key: their names are known only once every network is read).
import type { ServiceSpec } from "../core/model.ts";
import { RESPONDER_EXPOSE_LABEL } from "../core/ports.ts";
import { checkServiceSpec, validateServiceName } from "../core/service-spec.ts";
import { deploy } from "./deploy.ts";
import type { Position } from "./errors.ts";
import { ATTACH_KEYS, ATTACH_READ, SERVICE_KEYS, SERVICE_READ } from "./keys.ts";
import { STACK_IMAGE_LABEL, STACK_NAMESPACE_LABEL } from "./labels.ts";
import type { StackServicePlan } from "./load.ts";
import { expose, ports } from "./ports.ts";
import { at, fail, isNull, type Loader, str, stringMap, strList, text } from "./reader.ts";
import { ShellWordsError, splitShellWords } from "./shell-words.ts";
import type { CNode } from "./tree.ts";

/** A network key a service attaches to, with its aliases. */
export interface Attachment {
  key: string;
  aliases: string[];
  pos: Position;
}

export interface ServiceResult {
  plan: StackServicePlan;
  /** Network keys this service attaches to, with their aliases. */
  attachments: Attachment[];
}

/** `command` or `entrypoint`: a list, or a string split as a shell would. */
function command(node: CNode, path: string): string[] {
  if (node.kind === "seq") return strList(node, path).map((w) => w.value);
  const text = str(node, path);
  try {
    return splitShellWords(text);
  } catch (e) {
    if (e instanceof ShellWordsError) fail(node.pos, `${path}: ${e.message}`);
    throw e;
  }
}

/** `environment`, resolved: an entry without a value takes the caller's
 * environment, and is left out when it has none. */
function resolveEnvironment(
  node: CNode | undefined,
  path: string,
  env: Record<string, string>,
): Record<string, string> {
  const environment: Record<string, string> = {};
  if (node && !isNull(node)) {
    if (node.kind !== "map")
      fail(node.pos, `${path}.environment must be a mapping or a list of KEY=VALUE strings`);
    for (const [k, e] of node.entries) {
      if (isNull(e.value)) {
        if (env[k] !== undefined) environment[k] = env[k];
      } else environment[k] = text(e.value, `${path}.environment.${k}`);
    }
  }
  return environment;
}

/** `networks`: a mapping after normalize (the list form `[a, b]` becomes
 * `{a:, b:}`); without it the service is on the stack's `default` network. */
function networkAttachments(
  loader: Loader,
  node: CNode | undefined,
  path: string,
  keyPos: Position,
): Attachment[] {
  const attachments: Attachment[] = [];
  if (isNull(node)) attachments.push({ key: "default", aliases: [], pos: keyPos });
  else {
    if (node!.kind !== "map") fail(node!.pos, `${path}.networks must be a list or a mapping`);
    for (const [net, e] of node!.entries) {
      if (net.startsWith("x-")) continue;
      const np = `${path}.networks.${net}`;
      const a = loader.fields(e.value, np, ATTACH_KEYS, ATTACH_READ);
      const aliasNode = a.get("aliases");
      const aliases = isNull(aliasNode)
        ? []
        : strList(aliasNode!, `${np}.aliases`).map((x) => x.value);
      attachments.push({ key: net, aliases, pos: e.keyPos });
    }
  }
  return attachments;
}

export function service(
  loader: Loader,
  stack: string,
  key: string,
  node: CNode,
  keyPos: Position,
  env: Record<string, string>,
): ServiceResult {
  const path = `services.${key}`;
  const name = at(keyPos, "", () => validateServiceName(`${stack}_${key}`));
  const f = loader.fields(node, path, SERVICE_KEYS, SERVICE_READ);
  const image =
    f.get("image") && !isNull(f.get("image")) ? str(f.get("image")!, `${path}.image`) : "";
  const entrypoint = !isNull(f.get("entrypoint"))
    ? command(f.get("entrypoint")!, `${path}.entrypoint`)
    : [];
  const cmd = !isNull(f.get("command")) ? command(f.get("command")!, `${path}.command`) : [];
  const argv = [...entrypoint, ...cmd];
  const labelsNode = f.get("labels");
  const containerLabels = {
    ...(isNull(labelsNode) ? {} : stringMap(labelsNode!, `${path}.labels`)),
    [STACK_NAMESPACE_LABEL]: stack,
  };
  // Read in this order so that, of several mistakes, the same one is reported first.
  const environment = resolveEnvironment(f.get("environment"), path, env);
  const d = deploy(loader, f.get("deploy"), path);
  const portsNode = f.get("ports");
  const portList = isNull(portsNode) ? [] : ports(loader, portsNode!, `${path}.ports`);
  const exposeNode = f.get("expose");
  const exposed = isNull(exposeNode) ? [] : expose(exposeNode!, `${path}.expose`);
  const attachments = networkAttachments(loader, f.get("networks"), path, keyPos);

  const spec: ServiceSpec = {
    name,
    labels: {
      ...d.labels,
      [STACK_NAMESPACE_LABEL]: stack,
      ...(image ? { [STACK_IMAGE_LABEL]: image } : {}),
    },
    // The responder (no command) also listens on `expose` ports; the label
    // carries them to the agent and survives a round trip through Docker's API.
    containerLabels:
      argv.length === 0 && exposed.length > 0
        ? { ...containerLabels, [RESPONDER_EXPOSE_LABEL]: exposed.join(",") }
        : containerLabels,
    image,
    command: argv,
    ...(Object.keys(environment).length > 0 && {
      env: Object.entries(environment).map(([k, v]) => `${k}=${v}`),
    }),
    mode: d.mode,
    networks: [], // filled in once the networks are known
    endpoint: { mode: d.endpointMode, ports: portList },
    placement: { constraints: d.constraints },
  };
  // The checks the manager will make, now, with this file's positions.
  at(node.pos, `service "${key}"`, () => checkServiceSpec({ ...spec, networks: [] }, (r) => r));
  return {
    plan: {
      key,
      name,
      spec,
      responder: argv.length === 0,
      expose: exposed,
      environment,
    },
    attachments,
  };
}
