/**
 * Slice and SplitV of rank > 4 on wasm. The wasm slice copies rows for ranks 2..4 but falls back to a per-element
 * JavaScript loop for rank 5 (SplitV goes through the same function): the model's pad + reshape max-pool spent a
 * third of a ResNet-18 training step there. A rank-5 slice almost always keeps some axes whole; merging such an
 * axis into its neighbour (or a neighbour of extent 1 into it) gives the same copy at rank <= 4.
 */
import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import { asTensor } from './tensors.js';

interface Box {
  shape: number[];
  begin: number[];
  size: number[];
}

/**
 * Merges neighbouring axes of a slice while the copy stays the same: axis i + 1 into axis i when axis i + 1 is
 * taken whole, or when axis i contributes a single index. Stops at `maxRank` or when nothing merges.
 */
export function collapseSlice(box: Box, maxRank = 4): Box {
  const shape = [...box.shape];
  const begin = [...box.begin];
  const size = [...box.size];
  let i = shape.length - 2;
  while (shape.length > maxRank && i >= 0) {
    const whole = begin[i + 1] === 0 && size[i + 1] === shape[i + 1];
    if (whole || size[i] === 1) {
      begin[i] = begin[i]! * shape[i + 1]! + begin[i + 1]!;
      size[i] = whole ? size[i]! * shape[i + 1]! : size[i + 1]!;
      shape[i] = shape[i]! * shape[i + 1]!;
      shape.splice(i + 1, 1);
      begin.splice(i + 1, 1);
      size.splice(i + 1, 1);
      i = Math.min(i, shape.length - 2);
    } else {
      i--;
    }
  }
  return { shape, begin, size };
}

/** A slice of any rank through slices of rank <= 4 (the caller's reshape is free: no data moves). */
export function sliceLowRank(x: tf.Tensor, begin: number[], size: number[]): tf.Tensor {
  const c = collapseSlice({ shape: x.shape, begin, size });
  if (c.shape.length === x.shape.length) return tf.slice(x, begin, size);
  return tf.tidy(() => tf.reshape(tf.slice(tf.reshape(x, c.shape), c.begin, c.size), size));
}

/** The two BackendWasm methods the slice kernel uses (typed here to keep the package an optional import). */
interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/**
 * wasm Slice, any rank, as row copies inside the wasm heap (`copyWithin`: no allocation per row). The axes are
 * first merged as far as the copy allows, so rows are as long as possible. tfjs's own kernel also copies the
 * whole input out of the heap (`readSync`) on every call and goes element by element above rank 4.
 */
export function wasmSliceKernel(own: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const x = args.inputs.x!;
    if (x.dtype === 'string' || x.dtype === 'complex64') return own(args);
    const a = args.attrs as unknown as tf.SliceAttrs;
    const [begin, size] = tf.slice_util.parseSliceParams(x, a.begin, a.size);
    const backend = args.backend as unknown as WasmHeapBackend;
    const out = backend.makeOutput(size, x.dtype); // may grow the heap: take views only after it
    if (size.some((d) => d === 0)) return out;
    const src = backend.typedArrayFromHeap(x);
    const dst = backend.typedArrayFromHeap(out);
    const heap = new (src.constructor as new (b: ArrayBufferLike) => Float32Array)(src.buffer);
    const srcBase = src.byteOffset / src.BYTES_PER_ELEMENT;
    let o = dst.byteOffset / dst.BYTES_PER_ELEMENT;
    const c = collapseSlice({ shape: x.shape, begin, size }, 1);
    const r = c.shape.length;
    const strides = tf.util.computeStrides(c.shape);
    const row = c.size[r - 1]!;
    const idx = new Array<number>(r).fill(0);
    const rows = c.size.slice(0, r - 1).reduce((p, q) => p * q, 1);
    for (let k = 0; k < rows; k++) {
      let off = srcBase + c.begin[r - 1]!;
      for (let d = 0; d < r - 1; d++) off += (c.begin[d]! + idx[d]!) * strides[d]!;
      heap.copyWithin(o, off, off + row);
      o += row;
      for (let d = r - 2; d >= 0; d--) {
        if (++idx[d]! < c.size[d]!) break;
        idx[d] = 0;
      }
    }
    return out;
  };
}

export function splitHighRankKernel(own: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const x = args.inputs.x!;
    if (x.shape.length <= 4) return own(args);
    const a = args.attrs as unknown as tf.SplitVAttrs;
    const t = asTensor(x, 'x');
    const axis = tf.util.parseAxisParam(a.axis, x.shape)[0]!;
    const sizes = backend_util.prepareSplitSize(t, a.numOrSizeSplits, axis);
    const begin = new Array<number>(x.shape.length).fill(0);
    return sizes.map((s) => {
      const size = [...x.shape];
      size[axis] = s;
      const part = sliceLowRank(t, [...begin], size);
      begin[axis]! += s;
      return part;
    });
  };
}
