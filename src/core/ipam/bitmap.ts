// A fixed-size bitmap (1 = used) with a fast "lowest zero bit at or after i"
// search, shared by the address and id allocators.
//
// Layout, chosen so that a huge but mostly empty space costs nothing and a
// nearly full one is still searched quickly:
//  - Bits are split into pages of 2^16 bits. A page is only allocated when a
//    bit in it is first set, so a /8 network (or a /0) holding a handful of
//    containers costs one 8 KiB page, not 2 MiB (or 512 MiB).
//  - A page is a Uint32Array of 2048 bitmap words followed by 64 summary
//    words: summary bit w is set iff bitmap word w is all ones. A search
//    skips 32 full words (1024 bits) per summary word read.
//  - Each page keeps a count of its set bits, so full pages are skipped
//    without reading them at all.
// Finding a zero bit inside a word uses count-trailing-zeros on the inverted
// word, built from Math.clz32.

const PAGE_SHIFT = 16;
const PAGE_BITS = 1 << PAGE_SHIFT;
const PAGE_MASK = PAGE_BITS - 1;
const FULL = -1; // a word with all 32 bits set, as an int32

/** Index of the lowest set bit of a non-zero int32. */
function ctz(x: number): number {
  return 31 - Math.clz32(x & -x);
}

export class Bitmap {
  /** Number of bits. */
  readonly size: number;
  #count = 0;
  /** Bitmap words per page (2048, or fewer if the whole bitmap is smaller than a page). */
  readonly #words: number;
  readonly #pages: (Uint32Array | undefined)[];
  readonly #pageCounts: Uint32Array;

  /** `size` bits, all zero; 1 <= size <= 2^32. */
  constructor(size: number) {
    if (!(Number.isInteger(size) && size >= 1 && size <= 2 ** 32)) {
      throw new RangeError(`invalid bitmap size ${size}`);
    }
    this.size = size;
    this.#words = Math.min(PAGE_BITS, size + 31) >>> 5;
    const pageCount = Math.ceil(size / PAGE_BITS);
    this.#pages = new Array<Uint32Array | undefined>(pageCount).fill(undefined);
    this.#pageCounts = new Uint32Array(pageCount);
  }

  /** Number of set bits. */
  get count(): number {
    return this.#count;
  }

  get(i: number): boolean {
    const page = this.#pages[i >>> PAGE_SHIFT];
    if (page === undefined) return false;
    const off = i & PAGE_MASK;
    return (page[off >>> 5] & (1 << (off & 31))) !== 0;
  }

  /** Sets bit i; returns false if it was already set. */
  set(i: number): boolean {
    const p = i >>> PAGE_SHIFT;
    const page = this.#pages[p] ?? this.#newPage(p);
    const off = i & PAGE_MASK;
    const wi = off >>> 5;
    const bit = 1 << (off & 31);
    const w = page[wi] | 0;
    if ((w & bit) !== 0) return false;
    const nw = w | bit;
    page[wi] = nw;
    if (nw === FULL) page[this.#words + (wi >>> 5)] |= 1 << (wi & 31);
    this.#pageCounts[p]++;
    this.#count++;
    return true;
  }

  /** Clears bit i; returns false if it was already clear. */
  clear(i: number): boolean {
    const p = i >>> PAGE_SHIFT;
    const page = this.#pages[p];
    if (page === undefined) return false;
    const off = i & PAGE_MASK;
    const wi = off >>> 5;
    const bit = 1 << (off & 31);
    const w = page[wi] | 0;
    if ((w & bit) === 0) return false;
    if (w === FULL) page[this.#words + (wi >>> 5)] &= ~(1 << (wi & 31));
    page[wi] = w & ~bit;
    this.#pageCounts[p]--;
    this.#count--;
    return true;
  }

  /** The lowest clear bit in [from, to], or -1 if there is none. */
  findZero(from: number, to: number): number {
    if (to >= this.size) to = this.size - 1;
    let i = from;
    while (i <= to) {
      const p = i >>> PAGE_SHIFT;
      const page = this.#pages[p];
      if (page === undefined) return i; // never touched: all clear
      if (this.#pageCounts[p] !== PAGE_BITS) {
        const r = this.#findZeroInPage(page, i & PAGE_MASK);
        if (r >= 0) {
          const found = p * PAGE_BITS + r;
          return found <= to ? found : -1;
        }
      }
      i = (p + 1) * PAGE_BITS;
    }
    return -1;
  }

  /** Lowest clear bit at offset >= start within a page, or -1. */
  #findZeroInPage(page: Uint32Array, start: number): number {
    const nWords = this.#words;
    let wi = start >>> 5;
    // Treat the bits below `start` in its word as set.
    const w = page[wi] | ~(FULL << (start & 31));
    if (w !== FULL) return (wi << 5) + ctz(~w);
    // Later words: find the first one that is not full via the summary.
    wi++;
    if (wi >= nWords) return -1;
    let si = wi >>> 5;
    let s = page[nWords + si] | ~(FULL << (wi & 31));
    const lastSummary = (nWords - 1) >>> 5;
    while (s === FULL) {
      if (++si > lastSummary) return -1;
      s = page[nWords + si] | 0;
    }
    // Summary bits past the last word are clear but name no word.
    wi = (si << 5) + ctz(~s);
    if (wi >= nWords) return -1;
    return (wi << 5) + ctz(~page[wi]);
  }

  #newPage(p: number): Uint32Array {
    const page = new Uint32Array(this.#words + ((this.#words + 31) >>> 5));
    this.#pages[p] = page;
    return page;
  }
}
