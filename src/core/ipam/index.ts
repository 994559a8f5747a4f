// The IPAM core: pure, synchronous allocation of subnets, addresses and ids,
// following Docker Swarm's rules. No I/O: callers persist the results and
// rebuild these structures from persisted state with `reserve`.

export { AddressPool, type AddressPoolOptions } from "./address-pool.ts";
export { IpamError, type IpamErrorCode, isIpamError } from "./errors.ts";
export {
  IdAllocator,
  type IdAllocatorOptions,
  VXLAN_ID_MAX,
  VXLAN_ID_MIN,
} from "./id-allocator.ts";
export {
  broadcast,
  type Cidr,
  cidrContainsCidr,
  cidrSize,
  contains,
  formatCidr,
  formatIp,
  networkAddress,
  overlaps,
  parseCidr,
  parseCidrHost,
  parseIp,
  prefixMask,
  toCidr,
  tryParseIp,
} from "./ipv4.ts";
export {
  checkNoOverlap,
  DEFAULT_ADDRESS_POOLS,
  DEFAULT_MASK_LENGTH,
  MAX_MASK_LENGTH,
  SubnetPools,
  type SubnetPoolsOptions,
} from "./subnet-pools.ts";
