// DNS messages on the wire (RFC 1035), only as much as an embedded resolver
// needs: read one query's header and question, write replies that copy the
// question bytes and append ready-made answer records. Pure, no I/O.
//
// Replies are built for speed: the answer records of a name are encoded once
// (see `encodeA`, `encodePtr`) and every reply is one allocation and two or
// three copies. Answers point at the question's name with a compression
// pointer (0xC00C) instead of repeating it, so a record does not depend on
// how the client spelled the name (0x20 case randomisation survives, since
// the question is echoed byte for byte).

export const TYPE_A = 1;
export const TYPE_PTR = 12;
export const TYPE_AAAA = 28;
export const TYPE_OPT = 41;
export const TYPE_ANY = 255;
export const CLASS_IN = 1;
export const CLASS_ANY = 255;

export const NOERROR = 0;
export const FORMERR = 1;
export const SERVFAIL = 2;
export const NXDOMAIN = 3;
export const NOTIMP = 4;
export const REFUSED = 5;

/** Largest UDP reply to a client: we do not speak EDNS, so RFC 1035's limit holds. */
export const UDP_MAX = 512;

const HEADER = 12;
const QR = 0x8000;
const OPCODE_MASK = 0x7800;
const AA = 0x0400;
const TC = 0x0200;
const RD = 0x0100;
const RA = 0x0080;
/** Size of one A record pointing at the question name: ptr, type, class, ttl, rdlength, address. */
export const A_RECORD_SIZE = 16;

export interface Query {
  id: number;
  /** The query's header flags word, as received. */
  flags: number;
  /** Lower-case, no trailing dot; "" for the root. A dot inside a label reads `\.`. */
  qname: string;
  qtype: number;
  qclass: number;
  /** Offset just past the question: the question is `msg[12, questionEnd)`. */
  questionEnd: number;
  /** 0 when the query can be answered; FORMERR or NOTIMP when it can only be refused. */
  error: number;
}

/**
 * Reads a query. `null`: not worth an answer (shorter than a header, or a
 * response, which must never be answered — that way lie loops). Otherwise a
 * Query, with `error` set when it is malformed (FORMERR) or not a standard
 * query (NOTIMP). The additional section (EDNS OPT) is not read: we neither
 * need nor echo it, and a client that sent one accepts a reply without it.
 */
export function parseQuery(msg: Uint8Array): Query | null {
  if (msg.length < HEADER) return null;
  const id = (msg[0]! << 8) | msg[1]!;
  const flags = (msg[2]! << 8) | msg[3]!;
  if (flags & QR) return null;
  const q: Query = { id, flags, qname: "", qtype: 0, qclass: 0, questionEnd: HEADER, error: 0 };
  if ((flags & OPCODE_MASK) !== 0) {
    q.error = NOTIMP;
    return q;
  }
  const qdcount = (msg[4]! << 8) | msg[5]!;
  const ancount = (msg[6]! << 8) | msg[7]!;
  if (qdcount !== 1 || ancount !== 0) {
    q.error = FORMERR;
    return q;
  }
  const end = readName(msg, HEADER);
  if (end < 0 || end + 4 > msg.length) {
    q.error = FORMERR;
    return q;
  }
  q.qname = nameText;
  q.qtype = (msg[end]! << 8) | msg[end + 1]!;
  q.qclass = (msg[end + 2]! << 8) | msg[end + 3]!;
  q.questionEnd = end + 4;
  return q;
}

// readName's text result: a module-level slot instead of a returned object,
// so the hot path allocates only the string itself.
let nameText = "";

/** Reads an uncompressed name at `off` into nameText; returns the offset after it, or -1. */
function readName(msg: Uint8Array, off: number): number {
  let text = "";
  let total = 0;
  for (;;) {
    if (off >= msg.length) return -1;
    const len = msg[off]!;
    off++;
    if (len === 0) break;
    // A compression pointer (0xC0) or reserved label type: a question names
    // nothing earlier in the message, so no valid query has one here.
    if (len > 63) return -1;
    total += len + 1;
    if (total > 254 || off + len > msg.length) return -1;
    if (text.length > 0) text += ".";
    for (let i = off; i < off + len; i++) {
      let c = msg[i]!;
      if (c >= 65 && c <= 90) c += 32;
      // A literal dot inside a label must not read as a label boundary (it
      // would let "a\.b" match the name "a.b"); presentation format escapes it.
      text += c === 46 ? "\\." : String.fromCharCode(c);
    }
    off += len;
  }
  nameText = text;
  return off;
}

/** The reply header's flags: QR, the query's opcode and RD, RA, and our AA and rcode. */
function replyFlags(queryFlags: number, authoritative: boolean, rcode: number): number {
  return QR | (queryFlags & (OPCODE_MASK | RD)) | (authoritative ? AA : 0) | RA | (rcode & 0x0f);
}

function writeHeader(
  out: Uint8Array,
  id: number,
  flags: number,
  qdcount: number,
  ancount: number,
): void {
  out[0] = id >> 8;
  out[1] = id & 0xff;
  out[2] = flags >> 8;
  out[3] = flags & 0xff;
  out[4] = 0;
  out[5] = qdcount;
  out[6] = ancount >> 8;
  out[7] = ancount & 0xff;
  out[8] = 0;
  out[9] = 0;
  out[10] = 0;
  out[11] = 0;
}

/**
 * A reply with no answers: NOERROR/NODATA, NXDOMAIN, SERVFAIL, REFUSED. The
 * question is echoed when it was read; for FORMERR/NOTIMP only the header.
 */
export function emptyReply(
  msg: Uint8Array,
  q: Query,
  rcode: number,
  authoritative: boolean,
): Buffer {
  const qlen = q.error ? 0 : q.questionEnd - HEADER;
  const out = Buffer.allocUnsafe(HEADER + qlen);
  writeHeader(out, q.id, replyFlags(q.flags, authoritative, rcode), qlen ? 1 : 0, 0);
  if (qlen) out.set(msg.subarray(HEADER, q.questionEnd), HEADER);
  return out;
}

/**
 * A NOERROR reply carrying `count` A records from `records` (as made by
 * encodeA), starting at record `start` and wrapping around — the rotation of
 * round-robin names costs two copies, not a re-encode. Records that would
 * take the reply past `maxSize` are left out and TC is set, so the client
 * retries over TCP.
 */
export function aReply(
  msg: Uint8Array,
  q: Query,
  records: Uint8Array,
  start: number,
  maxSize: number,
): Buffer {
  const qlen = q.questionEnd - HEADER;
  const total = records.length / A_RECORD_SIZE;
  let count = total;
  let flags = replyFlags(q.flags, true, NOERROR);
  const room = Math.floor((maxSize - HEADER - qlen) / A_RECORD_SIZE);
  if (count > room) {
    count = Math.max(room, 0);
    flags |= TC;
  }
  const out = Buffer.allocUnsafe(HEADER + qlen + count * A_RECORD_SIZE);
  writeHeader(out, q.id, flags, 1, count);
  out.set(msg.subarray(HEADER, q.questionEnd), HEADER);
  let at = HEADER + qlen;
  const first = total ? start % total : 0;
  const tail = Math.min(total - first, count);
  out.set(records.subarray(first * A_RECORD_SIZE, (first + tail) * A_RECORD_SIZE), at);
  at += tail * A_RECORD_SIZE;
  if (tail < count) out.set(records.subarray(0, (count - tail) * A_RECORD_SIZE), at);
  return out;
}

/** A NOERROR reply with one ready-made record (encodePtr's). TC if it does not fit. */
export function recordReply(
  msg: Uint8Array,
  q: Query,
  record: Uint8Array,
  maxSize: number,
): Buffer {
  const qlen = q.questionEnd - HEADER;
  if (HEADER + qlen + record.length > maxSize) {
    const out = emptyReply(msg, q, NOERROR, true);
    out[2] = out[2]! | (TC >> 8);
    return out;
  }
  const out = Buffer.allocUnsafe(HEADER + qlen + record.length);
  writeHeader(out, q.id, replyFlags(q.flags, true, NOERROR), 1, 1);
  out.set(msg.subarray(HEADER, q.questionEnd), HEADER);
  out.set(record, HEADER + qlen);
  return out;
}

/** A records for the question's name, `A_RECORD_SIZE` bytes each; addresses as uint32. */
export function encodeA(addrs: readonly number[], ttl: number): Buffer {
  const out = Buffer.allocUnsafe(addrs.length * A_RECORD_SIZE);
  let at = 0;
  for (const addr of addrs) {
    at = writeRecordHead(out, at, TYPE_A, ttl, 4);
    out.writeUInt32BE(addr, at);
    at += 4;
  }
  return out;
}

/** One PTR record for the question's name, pointing at `name` (dotted, no trailing dot). */
export function encodePtr(name: string, ttl: number): Buffer {
  const wire = encodeName(name);
  const out = Buffer.allocUnsafe(12 + wire.length);
  const at = writeRecordHead(out, 0, TYPE_PTR, ttl, wire.length);
  out.set(wire, at);
  return out;
}

function writeRecordHead(
  out: Buffer,
  at: number,
  type: number,
  ttl: number,
  rdlength: number,
): number {
  out[at] = 0xc0;
  out[at + 1] = HEADER;
  out.writeUInt16BE(type, at + 2);
  out.writeUInt16BE(CLASS_IN, at + 4);
  out.writeUInt32BE(ttl, at + 6);
  out.writeUInt16BE(rdlength, at + 10);
  return at + 12;
}

/** A dotted name in wire format. Labels over 63 bytes cannot be encoded and throw. */
export function encodeName(name: string): Buffer {
  const labels = name === "" ? [] : name.split(".");
  const parts: number[] = [];
  for (const label of labels) {
    const bytes = Buffer.from(label, "latin1");
    if (bytes.length === 0 || bytes.length > 63) throw new Error(`invalid DNS name: ${name}`);
    parts.push(bytes.length, ...bytes);
  }
  parts.push(0);
  if (parts.length > 255) throw new Error(`DNS name too long: ${name}`);
  return Buffer.from(parts);
}

/** Copies a forwarded reply's bytes with the client's query ID in place of ours. */
export function withId(msg: Uint8Array, id: number): Buffer {
  const out = Buffer.from(msg);
  out[0] = id >> 8;
  out[1] = id & 0xff;
  return out;
}

/** The ID of a message (query or reply); -1 if it has no header. */
export function messageId(msg: Uint8Array): number {
  return msg.length < HEADER ? -1 : (msg[0]! << 8) | msg[1]!;
}

/** The rcode of a reply; -1 if it has no header. */
export function rcodeOf(msg: Uint8Array): number {
  return msg.length < HEADER ? -1 : msg[3]! & 0x0f;
}

/** True when `reply` is a response whose question section equals `query`'s byte for byte. */
export function answersQuestion(
  reply: Uint8Array,
  query: Uint8Array,
  questionEnd: number,
): boolean {
  if (reply.length < questionEnd || !(reply[2]! & 0x80)) return false;
  if (reply[4] !== query[4] || reply[5] !== query[5]) return false;
  for (let i = HEADER; i < questionEnd; i++) if (reply[i] !== query[i]) return false;
  return true;
}

/** Prefixes a message with its 2-byte length, as DNS over TCP sends it (RFC 1035 4.2.2). */
export function frame(msg: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(msg.length + 2);
  out.writeUInt16BE(msg.length, 0);
  out.set(msg, 2);
  return out;
}

/**
 * Splits a TCP byte stream into DNS messages. Feed it chunks as they arrive;
 * it returns the complete messages so far and keeps the rest. A zero length
 * prefix is a protocol error the caller should answer by closing.
 */
export class TcpDeframer {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    let buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const out: Buffer[] = [];
    while (buf.length >= 2) {
      const len = buf.readUInt16BE(0);
      if (buf.length < 2 + len) break;
      out.push(buf.subarray(2, 2 + len));
      buf = buf.subarray(2 + len);
    }
    // Copy the remainder so a small leftover does not pin a large chunk.
    this.pending = buf.length ? Buffer.from(buf) : Buffer.alloc(0);
    return out;
  }

  /** Bytes received that do not yet make a whole message. */
  get buffered(): number {
    return this.pending.length;
  }
}
