import { type InferenceSession, Tensor } from 'onnxruntime-node';
import { ModelError } from '../errors.ts';

/**
 * Builds a tensor for input `name` in whatever element type the graph declares, so
 * that packs exported with int32 ids or an integer timestep run unchanged.
 */
export function inputTensor(
  session: InferenceSession,
  name: string,
  values: ArrayLike<number>,
  dims: number[],
): Tensor {
  const meta = session.inputMetadata.find((m) => m.name === name);
  const type = meta?.isTensor ? meta.type : 'float32';
  switch (type) {
    case 'float32':
      // Float32Array data is used as is: the sample is fed once per step and is large.
      return new Tensor('float32', values instanceof Float32Array ? values : Float32Array.from(values), dims);
    case 'int64': {
      const data = new BigInt64Array(values.length);
      for (let i = 0; i < values.length; i += 1) data[i] = BigInt(Math.round(values[i] as number));
      return new Tensor('int64', data, dims);
    }
    case 'int32': {
      const data = new Int32Array(values.length);
      for (let i = 0; i < values.length; i += 1) data[i] = Math.round(values[i] as number);
      return new Tensor('int32', data, dims);
    }
    case 'bool':
      return new Tensor(
        'bool',
        Uint8Array.from(values, (v) => (v ? 1 : 0)),
        dims,
      );
    default:
      throw new ModelError(`input "${name}" has element type ${type}, which the runtime cannot feed`);
  }
}

/** The rank the graph declares for input `name`, or undefined when it declares none. */
export function declaredRank(session: InferenceSession, name: string): number | undefined {
  const meta = session.inputMetadata.find((m) => m.name === name);
  return meta?.isTensor && meta.shape.length > 0 ? meta.shape.length : undefined;
}

/** Reads float32 output `name` and checks its size. */
export function floatOutput(
  outputs: InferenceSession.OnnxValueMapType,
  name: string,
  expectedLength: number,
): Float32Array {
  const value = outputs[name];
  if (!value || !(value instanceof Tensor) || !(value.data instanceof Float32Array)) {
    throw new ModelError(`model output "${name}" is missing or not float32`);
  }
  if (value.data.length !== expectedLength) {
    throw new ModelError(
      `model output "${name}" has ${value.data.length} values, expected ${expectedLength}`,
    );
  }
  return value.data;
}
