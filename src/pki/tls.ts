// TLS options for the control plane, and the per-request check that turns a
// TLS peer into a verified node identity.
//
// CHOICE: one port, `requestCert: true, rejectUnauthorized: false`, and an
// explicit `authorizeNode(req.socket, ca)` on every request that is not part
// of the join flow. Why not two ports (a strict mTLS one and an open join
// one)? Docker Swarm serves both on 2377, and swarmnet's `join --token T
// ADDR:PORT`, `--advertise-addr` and the lab's firewall-free namespaces all
// assume one address per manager. The check is also where we get the node's
// identity anyway (role for authorization, node id for the dispatcher), and
// it gives a clear HTTP 401 with a reason instead of a bare TLS alert that a
// client reports as "socket hang up". The cost: a route that forgets the
// check is open. The manager's router must therefore call authorizeNode
// before dispatching anything but the join endpoints (default deny), not
// route by route. OpenSSL still verifies every presented certificate against
// the CA during the handshake; authorizeNode requires that verdict and
// additionally checks role and cluster.
import {
  type ConnectionOptions,
  checkServerIdentity,
  type PeerCertificate,
  type TLSSocket,
  type TlsOptions,
} from "node:tls";
import {
  type CertInput,
  MANAGER_SAN,
  type NodeIdentity,
  type NodeRole,
  verifyNodeCertificate,
} from "./ca.ts";
import { PkiError } from "./errors.ts";

/** What a node holds after joining (PEM), as saved by store.ts. */
export interface NodeCredentials {
  caCertPem: string;
  certPem: string;
  keyPem: string;
}

// Every peer is swarmnet itself, so there is no old client to keep working.
const MIN_VERSION = "TLSv1.3" as const;

/** For `https.createServer` / `tls.createServer` on a manager. */
export function managerServerOptions(creds: NodeCredentials): TlsOptions {
  return {
    ca: creds.caCertPem, // verifies client certs and names the CA in the CertificateRequest
    cert: creds.certPem,
    key: creds.keyPem,
    requestCert: true,
    rejectUnauthorized: false, // joiners have no certificate yet: see CHOICE above
    minVersion: MIN_VERSION,
  };
}

export interface AuthorizeOptions {
  /** Roles allowed here; default both. Dispatcher streams: both; manager-to-manager: ["manager"]. */
  roles?: readonly NodeRole[];
  now?: Date;
}

/**
 * The verified identity of the node at the other end of `socket`
 * (`req.socket` in an https handler). Throws PkiError: PKI_NO_CLIENT_CERT,
 * PKI_UNTRUSTED, PKI_EXPIRED, PKI_NOT_YET_VALID, PKI_INVALID_CERT (all 401),
 * or PKI_FORBIDDEN (403) for a role not in `opts.roles`.
 */
export function authorizeNode(
  socket: TLSSocket,
  caCert: CertInput,
  opts: AuthorizeOptions = {},
): NodeIdentity {
  const peer: PeerCertificate | undefined =
    typeof socket.getPeerCertificate === "function" ? socket.getPeerCertificate() : undefined;
  if (!peer?.raw) {
    throw new PkiError(
      "PKI_NO_CLIENT_CERT",
      "client certificate required: this endpoint is for swarm nodes (join first with `swarmnet join --token`)",
    );
  }
  // Our own check first: it gives the clearer reason (expired, other cluster, ...).
  const identity = verifyNodeCertificate(caCert, peer.raw, { now: opts.now });
  if (!socket.authorized) {
    throw new PkiError(
      "PKI_UNTRUSTED",
      `client certificate refused: ${String(socket.authorizationError)}`,
    );
  }
  const roles = opts.roles ?? ["manager", "worker"];
  if (!roles.includes(identity.role)) {
    throw new PkiError(
      "PKI_FORBIDDEN",
      `node ${identity.nodeId} is a ${identity.role}; this needs a ${roles.join(" or ")}`,
    );
  }
  return identity;
}

/**
 * Server identity check for clients dialing a manager: the certificate must
 * carry the "swarm-manager" DNS SAN (the name every manager answers to, so
 * agents can dial a manager by IP without knowing its node id), be a manager
 * certificate of this cluster, and — when given — belong to `managerNodeId`.
 */
function managerIdentityCheck(caCert: CertInput, managerNodeId?: string) {
  return (_host: string, peer: PeerCertificate): Error | undefined => {
    const sanError = checkServerIdentity(MANAGER_SAN, peer);
    if (sanError) return sanError;
    try {
      const id = verifyNodeCertificate(caCert, peer.raw);
      if (id.role !== "manager") {
        return new PkiError("PKI_UNTRUSTED", `server ${id.nodeId} is not a manager`);
      }
      if (managerNodeId !== undefined && id.nodeId !== managerNodeId) {
        return new PkiError(
          "PKI_UNTRUSTED",
          `server is node ${id.nodeId}, expected ${managerNodeId}`,
        );
      }
      return undefined;
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  };
}

/**
 * For an agent (or a manager dialing another manager): presents the node's
 * certificate and verifies the server against the cluster CA only — never
 * the system's roots. Use with `https.request` / `tls.connect`; `servername`
 * is set so SNI and the identity check do not depend on the dialed address.
 */
export function nodeClientOptions(
  creds: NodeCredentials,
  opts: { managerNodeId?: string } = {},
): ConnectionOptions {
  return {
    ...joinClientOptions(creds.caCertPem, opts),
    cert: creds.certPem,
    key: creds.keyPem,
  };
}

/**
 * Second step of joining: the CA is pinned (its digest matched the token),
 * the node has no certificate yet. Verifies the manager against the pinned CA
 * so the token and CSR go only to a real manager of that cluster.
 */
export function joinClientOptions(
  caCertPem: string,
  opts: { managerNodeId?: string } = {},
): ConnectionOptions {
  return {
    ca: caCertPem,
    rejectUnauthorized: true,
    servername: MANAGER_SAN,
    checkServerIdentity: managerIdentityCheck(caCertPem, opts.managerNodeId),
    minVersion: MIN_VERSION,
  };
}

/**
 * First step of joining, and nothing else: fetch the CA certificate without
 * verifying the server (the node has no CA to verify with yet). Whatever
 * comes back is untrusted until assertTokenMatchesCa accepts it; never send
 * the token over a connection made with these options.
 */
export function bootstrapClientOptions(): ConnectionOptions {
  return { rejectUnauthorized: false, servername: MANAGER_SAN, minVersion: MIN_VERSION };
}
