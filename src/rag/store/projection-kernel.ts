/**
 * The projection's inner loop as a WebAssembly SIMD function: `to` dot products of `from` floats, four lanes at a
 * time. Written out as the module's bytes (one function, no imports), since a 40-instruction kernel does not
 * justify a compiler toolchain; `projection.test.ts` checks it against the plain loop.
 *
 *   project(c, x, out, from, to): for j < to: out[j] = Σ_i c[j·from + i] · x[i]   (byte addresses, from % 4 = 0)
 */
const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
};
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const name = (s: string) => [...uleb(s.length), ...Array.from(s, (ch) => ch.charCodeAt(0))];

const I32 = 0x7f;
const V128 = 0x7b;
const [C, X, OUT, FROM, TO, J, I, ROW, ACC] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
const get = (local: number) => [0x20, local];
const set = (local: number) => [0x21, local];
const i32 = (n: number) => [0x41, n]; // small non-negative constants only (one LEB byte)
const [ADD, MUL, SHL, GE_U] = [0x6a, 0x6c, 0x74, 0x4f];
const [BLOCK, LOOP, BR, BR_IF, END, VOID] = [0x02, 0x03, 0x0c, 0x0d, 0x0b, 0x40];
const simd = (op: number, ...rest: number[]) => [0xfd, ...uleb(op), ...rest];
const V128_LOAD = simd(0x00, 2, 0);
const F32X4_ADD = simd(0xe4);
const F32X4_MUL = simd(0xe6);
const lane = (n: number) => simd(0x1f, n);
const F32_ADD = 0x92;
const F32_STORE = [0x38, 2, 0];

const body = [
  ...[2, 3, I32, 1, V128], // locals: j, i, row (i32); acc (v128)
  ...[BLOCK, VOID, LOOP, VOID],
  ...[...get(J), ...get(TO), GE_U, BR_IF, 1],
  ...[...get(C), ...get(J), ...get(FROM), MUL, ...i32(2), SHL, ADD, ...set(ROW)],
  ...[...simd(0x0c, ...new Array<number>(16).fill(0)), ...set(ACC), ...i32(0), ...set(I)],
  ...[BLOCK, VOID, LOOP, VOID],
  ...[...get(I), ...get(FROM), ...i32(2), SHL, GE_U, BR_IF, 1],
  ...[...get(ACC), ...get(ROW), ...get(I), ADD, ...V128_LOAD, ...get(X), ...get(I), ADD, ...V128_LOAD],
  ...[...F32X4_MUL, ...F32X4_ADD, ...set(ACC)],
  ...[...get(I), ...i32(16), ADD, ...set(I), BR, 0],
  ...[END, END],
  ...[...get(OUT), ...get(J), ...i32(2), SHL, ADD],
  ...[...get(ACC), ...lane(0), ...get(ACC), ...lane(1), F32_ADD, ...get(ACC), ...lane(2), F32_ADD],
  ...[...get(ACC), ...lane(3), F32_ADD, ...F32_STORE],
  ...[...get(J), ...i32(1), ADD, ...set(J), BR, 0],
  ...[END, END, END],
];

const MODULE = new Uint8Array([
  ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
  ...section(1, [1, 0x60, 5, I32, I32, I32, I32, I32, 0]),
  ...section(3, [1, 0]),
  ...section(5, [1, 0x00, 1]),
  ...section(7, [2, ...name('project'), 0x00, 0, ...name('memory'), 0x02, 0]),
  ...section(10, [1, ...uleb(body.length), ...body]),
]);

/** The part of the WebAssembly API this file uses (the project's TypeScript libraries do not declare it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}
interface WasmMemory {
  buffer: ArrayBuffer;
  grow(pages: number): number;
}

let compiled: object | null | undefined;

/** The compiled module, or `null` where this runtime lacks WebAssembly SIMD. */
function kernelModule(): object | null {
  if (compiled === undefined) {
    const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
    try {
      compiled = wasm ? new wasm.Module(MODULE) : null;
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

/** A matrix held in WebAssembly memory, multiplied by one vector at a time. */
export class ProjectionKernel {
  private constructor(
    private readonly project: (c: number, x: number, out: number, from: number, to: number) => void,
    private readonly memory: Float32Array,
    private readonly from: number,
    private readonly to: number,
  ) {}

  /** A kernel for `to` rows of `from` values, or `undefined` when `from` is not a multiple of 4 or SIMD is missing. */
  static create(components: Float32Array, from: number, to: number): ProjectionKernel | undefined {
    const module = from % 4 === 0 ? kernelModule() : null;
    if (!module) return undefined;
    const instance = new (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly.Instance(module);
    const memory = instance.exports.memory as WasmMemory;
    const bytes = (to * from + from + to) * 4;
    const pages = Math.ceil(bytes / 65_536);
    if (pages > 1) memory.grow(pages - 1);
    const floats = new Float32Array(memory.buffer);
    floats.set(components, 0);
    return new ProjectionKernel(instance.exports.project as ProjectionKernel['project'], floats, from, to);
  }

  /** The product of the matrix with the vector at `offset` of `source`, as a plain array. */
  apply(source: Float32Array, offset: number): number[] {
    const { from, to, memory } = this;
    const input = to * from;
    const output = input + from;
    memory.set(source.subarray(offset, offset + from), input);
    this.project(0, input * 4, output * 4, from, to);
    const out = new Array<number>(to);
    for (let j = 0; j < to; j += 1) out[j] = memory[output + j] as number;
    return out;
  }
}
