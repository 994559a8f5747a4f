// cleanup(scope) removes everything swarmnet made for one node — its
// namespaces (which takes their devices, veth peers and VXLAN sockets with
// them, and any nftables table in them), the gateway bridge if swarmnet made
// it, and swarmnet's nftables table in the host namespace — and nothing else.
// Deliberately not observe+diff: it must work on a half-built or broken node,
// and on a lab host whose namespace is already gone.
// ip_forward is left as it is (it may have been on before swarmnet came);
// net.netfilter.nf_log_all_netns is put back to what swarmnet found, if it
// changed it and the node's state directory is given (kernel-log.ts).
import { isNotFound } from "../errors.ts";
import { checkNsName, GW_BRIDGE, NFT_TABLE, OWNER_ALIAS, type Scope } from "../names.ts";
import { inNs, ip, run, splitJson } from "./exec.ts";
import { restoreSandboxLogging } from "./kernel-log.ts";
import { ownedNamespaces } from "./observe.ts";

export interface CleanupResult {
  namespaces: string[];
  gwBridge: boolean;
  nftTable: boolean;
  /** nf_log_all_netns was put back to the value swarmnet found. */
  nfLog?: boolean;
}

async function ignoreNotFound<T>(p: Promise<T>, absent: T): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (isNotFound(err)) return absent;
    throw err;
  }
}

export async function cleanup(
  scope: Scope,
  opts: { stateDir?: string } = {},
): Promise<CleanupResult> {
  const hostNs = checkNsName(scope.hostNs);
  const owned = await ownedNamespaces(scope.prefix);
  const namespaces = owned.map((o) => o.name);
  if (namespaces.length > 0) {
    await run(["ip", "-batch", "-"], namespaces.map((n) => `netns del ${n}\n`).join(""));
  }
  const gwBridge = await ignoreNotFound(
    (async () => {
      const { stdout } = await run(ip(hostNs, "-j", "link", "show", "dev", GW_BRIDGE));
      const [links] = splitJson(stdout) as { ifalias?: string }[][];
      if (links?.[0]?.ifalias !== OWNER_ALIAS) return false;
      await run(ip(hostNs, "link", "del", "dev", GW_BRIDGE));
      return true;
    })(),
    false,
  );
  const nftTable = await ignoreNotFound(
    run(inNs(hostNs, ["nft", "delete", "table", "ip", NFT_TABLE])).then(() => true),
    false,
  );
  if (opts.stateDir === undefined) return { namespaces, gwBridge, nftTable };
  return { namespaces, gwBridge, nftTable, nfLog: restoreSandboxLogging(opts.stateDir) };
}
