// The joining side of Docker's bootstrap: fetch the CA without trusting the
// server, pin it by the digest in the token, then send the token and a CSR
// over a connection that verifies the manager against that CA.
import {
  assertTokenMatchesCa,
  bootstrapClientOptions,
  createCsr,
  generateKeyPair,
  joinClientOptions,
  type NodeCredentials,
  parseJoinToken,
  privateKeyToPem,
} from "../pki/index.ts";
import { controlCall } from "./manager-client.ts";

export interface JoinResult {
  nodeId: string;
  managerAddr: string;
  credentials: NodeCredentials;
}

export async function joinCluster(opts: {
  managerAddr: string;
  token: string;
  hostname: string;
  advertiseAddr?: string;
  dataPathAddr?: string;
}): Promise<JoinResult> {
  parseJoinToken(opts.token);
  const { caCertPem } = await controlCall<{ caCertPem: string }>(
    opts.managerAddr,
    bootstrapClientOptions(),
    "GET",
    "/v1/join/ca",
  );
  assertTokenMatchesCa(opts.token, caCertPem);
  const keys = generateKeyPair();
  const reply = await controlCall<{ nodeId: string; certPem: string; managerAddr: string }>(
    opts.managerAddr,
    joinClientOptions(caCertPem),
    "POST",
    "/v1/join",
    {
      token: opts.token,
      csrPem: createCsr(keys.privateKey),
      hostname: opts.hostname,
      advertiseAddr: opts.advertiseAddr,
      dataPathAddr: opts.dataPathAddr,
    },
  );
  return {
    nodeId: reply.nodeId,
    // Agents keep dialing the address they joined through: it is known to route from here.
    managerAddr: opts.managerAddr,
    credentials: { caCertPem, certPem: reply.certPem, keyPem: privateKeyToPem(keys.privateKey) },
  };
}
