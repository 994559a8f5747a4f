// Errors raised by the IPAM core. Callers (the manager, the API layer) branch on
// `code`, which is stable; `message` is what a user sees, worded like Docker's
// where Docker reports the same condition so that scripts and muscle memory
// carry over.

export type IpamErrorCode =
  /** A CIDR string is malformed, or has host bits set where a network is expected. */
  | "IPAM_INVALID_CIDR"
  /** An IP address string is malformed. */
  | "IPAM_INVALID_ADDRESS"
  /** The gateway is not inside the subnet. */
  | "IPAM_GATEWAY_OUTSIDE"
  /** The ip-range is not inside the subnet. */
  | "IPAM_RANGE_OUTSIDE"
  /** An aux-address is not inside the subnet. */
  | "IPAM_AUX_OUTSIDE"
  /** A requested address is not inside the network's subnet. */
  | "IPAM_ADDRESS_OUTSIDE"
  /** A subnet overlaps one already in use. */
  | "IPAM_OVERLAP"
  /** Every allocatable address of a network is in use. */
  | "IPAM_EXHAUSTED"
  /** No free subnet is left in the default address pools. */
  | "IPAM_POOL_EXHAUSTED"
  /** A requested address is allocated, or reserved (gateway, aux-address, ...). */
  | "IPAM_ADDRESS_IN_USE"
  /** Releasing an address or id that is not allocated. */
  | "IPAM_NOT_ALLOCATED"
  /** Invalid default address pool configuration, or invalid id range. */
  | "IPAM_INVALID_POOL"
  /** An id is not an integer inside the allocator's range. */
  | "IPAM_INVALID_ID"
  /** A requested id is already allocated. */
  | "IPAM_ID_IN_USE";

export class IpamError extends Error {
  readonly code: IpamErrorCode;
  /** Machine-readable context (e.g. the conflicting network of an overlap). */
  readonly details: Readonly<Record<string, string | number>> | undefined;

  constructor(
    code: IpamErrorCode,
    message: string,
    details?: Readonly<Record<string, string | number>>,
  ) {
    super(message);
    this.name = "IpamError";
    this.code = code;
    this.details = details;
  }
}

/** True if `e` is an IpamError (with the given code, if one is given). */
export function isIpamError(e: unknown, code?: IpamErrorCode): e is IpamError {
  return e instanceof IpamError && (code === undefined || e.code === code);
}
