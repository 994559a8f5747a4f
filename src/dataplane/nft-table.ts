// swarmnet's nftables table (`table ip swarmnet`) in the node's host
// namespace. It is swarmnet's alone: nothing else is ever flushed or edited,
// and removing swarmnet deletes the table. Its hooks and priorities are a
// contract (README.md). Namespaces swarmnet creates may hold their own
// `table ip swarmnet` (VIP load balancing, the routing mesh); those go with
// their namespace. Rules are written as `nft list` prints them (see
// nft-fixtures.ts for the checked forms), so observed and desired compare as text.
import type { NftTable } from "./kernel-state.ts";
import { GW_BRIDGE, NFT_TABLE } from "./names.ts";

/** Egress for gateway-bridge legs. Hooks and priorities are part of the
 * contract (README): forward at `filter` (0), postrouting at `srcnat` (100). */
export function gatewayTable(gwSubnet: string): NftTable {
  const br = `"${GW_BRIDGE}"`;
  return {
    family: "ip",
    name: NFT_TABLE,
    chains: [
      {
        name: "forward",
        type: "filter",
        hook: "forward",
        priority: "filter",
        policy: "accept",
        rules: [
          // Legs never reach each other, not even routed through the host.
          `iifname ${br} oifname ${br} drop`,
          // Into sandboxes only replies: nothing outside starts a connection.
          `oifname ${br} ct state established,related accept`,
          `oifname ${br} drop`,
        ],
      },
      {
        name: "postrouting",
        type: "nat",
        hook: "postrouting",
        priority: "srcnat",
        policy: "accept",
        rules: [`ip saddr ${gwSubnet} oifname != ${br} masquerade`],
      },
    ],
    maps: [],
  };
}
