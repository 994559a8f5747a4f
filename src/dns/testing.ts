// Test helpers: DNS queries built by hand and replies read back, written
// independently of wire.ts so the tests do not check the code against itself.

export interface QueryOptions {
  id?: number;
  type?: number;
  klass?: number;
  /** Header flags word; default RD only. */
  flags?: number;
  /** Append an EDNS OPT record advertising this UDP size. */
  edns?: number;
}

export function query(name: string, opts: QueryOptions = {}): Buffer {
  const labels = name === "" ? [] : name.split(".");
  const parts: number[] = [];
  for (const l of labels) parts.push(l.length, ...Buffer.from(l, "latin1"));
  parts.push(0);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(opts.id ?? 0x1234, 0);
  header.writeUInt16BE(opts.flags ?? 0x0100, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(opts.edns ? 1 : 0, 10);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(opts.type ?? 1, 0);
  tail.writeUInt16BE(opts.klass ?? 1, 2);
  const opt = Buffer.alloc(opts.edns ? 11 : 0);
  if (opts.edns) {
    opt.writeUInt16BE(41, 1);
    opt.writeUInt16BE(opts.edns, 3);
  }
  return Buffer.concat([header, Buffer.from(parts), tail, opt]);
}

export interface Reply {
  id: number;
  qr: boolean;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  rcode: number;
  qdcount: number;
  question: string;
  answers: { type: number; ttl: number; data: string }[];
}

/** Reads a reply; answers' owner names must be pointers to the question (all ours are). */
export function readReply(buf: Buffer): Reply {
  const flags = buf.readUInt16BE(2);
  const qdcount = buf.readUInt16BE(4);
  const ancount = buf.readUInt16BE(6);
  let at = 12;
  let question = "";
  if (qdcount) {
    const q = readName(buf, at);
    question = q.name;
    at = q.end + 4;
  }
  const answers: Reply["answers"] = [];
  for (let i = 0; i < ancount; i++) {
    if (buf.readUInt16BE(at) !== 0xc00c) throw new Error("answer not named by a pointer to 12");
    const type = buf.readUInt16BE(at + 2);
    const ttl = buf.readUInt32BE(at + 6);
    const len = buf.readUInt16BE(at + 10);
    const rdata = buf.subarray(at + 12, at + 12 + len);
    const data = type === 1 ? [...rdata].join(".") : readName(buf, at + 12).name;
    answers.push({ type, ttl, data });
    at += 12 + len;
  }
  if (at !== buf.length) throw new Error(`reply has ${buf.length - at} trailing bytes`);
  return {
    id: buf.readUInt16BE(0),
    qr: !!(flags & 0x8000),
    aa: !!(flags & 0x0400),
    tc: !!(flags & 0x0200),
    rd: !!(flags & 0x0100),
    ra: !!(flags & 0x0080),
    rcode: flags & 0x0f,
    qdcount,
    question,
    answers,
  };
}

function readName(buf: Buffer, at: number): { name: string; end: number } {
  const labels: string[] = [];
  for (;;) {
    const len = buf[at]!;
    if (len === 0) return { name: labels.join("."), end: at + 1 };
    labels.push(buf.toString("latin1", at + 1, at + 1 + len));
    at += 1 + len;
  }
}
