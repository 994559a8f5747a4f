// Public surface of the PKI: import from here, not from the files.
export * from "./ca.ts";
export * from "./errors.ts";
export {
  createCsr,
  generateKeyPair,
  type KeyPair,
  privateKeyFromPem,
  privateKeyToPem,
  publicKeyFromCsr,
  publicKeyToPem,
} from "./keys.ts";
export * from "./store.ts";
export * from "./tls.ts";
export * from "./token.ts";
