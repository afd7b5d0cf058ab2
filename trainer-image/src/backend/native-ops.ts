// TensorFlow ops that tfjs has no kernel for, run by name through tfjs-node's eager-op entry point
// (NodeJSKernelBackend.executeMultipleOutputs, the call tfjs-node's own TensorBoard writer uses). Only on the native
// backend; callers keep a tfjs-op path for the others.
import * as tf from '@tensorflow/tfjs';

/** The parts of tfjs-node's backend and binding used here (tfjs-node is optional, so not imported for its types). */
interface NodeBackend {
  binding: {
    TF_ATTR_STRING: number;
    TF_ATTR_BOOL: number;
    TF_ATTR_TYPE: number;
    TF_ATTR_SHAPE: number;
    TF_FLOAT: number;
    TF_INT32: number;
  };
  executeMultipleOutputs(name: string, attrs: OpAttr[], inputs: tf.Tensor[], numOutputs: number): tf.Tensor[];
}

interface OpAttr {
  name: string;
  type: number;
  value: string | boolean | number | number[];
}

export type AttrValue =
  | { string: string }
  | { bool: boolean }
  | { dtype: 'float32' | 'int32' }
  | { shape: readonly number[] };

export interface NativeOps {
  /** Runs TensorFlow op `name` eagerly; its outputs are tfjs tensors (resource handles come back as dtype string). */
  run(name: string, attrs: Record<string, AttrValue>, inputs: tf.Tensor[], numOutputs: number): tf.Tensor[];
}

/** Raw TensorFlow ops when the active backend is the native one, else undefined. */
export function nativeOps(): NativeOps | undefined {
  if (tf.getBackend() !== 'tensorflow') return undefined;
  const backend = tf.backend() as unknown as NodeBackend;
  const { binding } = backend;
  const attr = (name: string, value: AttrValue): OpAttr => {
    if ('string' in value) return { name, type: binding.TF_ATTR_STRING, value: value.string };
    if ('bool' in value) return { name, type: binding.TF_ATTR_BOOL, value: value.bool };
    if ('dtype' in value)
      return {
        name,
        type: binding.TF_ATTR_TYPE,
        value: value.dtype === 'float32' ? binding.TF_FLOAT : binding.TF_INT32,
      };
    return { name, type: binding.TF_ATTR_SHAPE, value: [...value.shape] };
  };
  return {
    run: (name, attrs, inputs, numOutputs) =>
      backend.executeMultipleOutputs(
        name,
        Object.entries(attrs).map(([n, v]) => attr(n, v)),
        inputs,
        numOutputs,
      ),
  };
}
