import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** Element types the reference models use (values from onnx.TensorProto.DataType). */
export const DType = {
  float: 1,
  uint16: 4,
  int64: 7,
  bool: 9,
} as const;
export type DType = (typeof DType)[keyof typeof DType];

/** A dimension is a fixed size or a symbolic name such as `batch` or `past_sequence_length`. */
export type Dim = number | string;

type AttrValue =
  | number
  | number[]
  | string
  | { tensor: onnxProto.onnx.ITensorProto }
  | { graph: onnxProto.onnx.IGraphProto };

/**
 * A small builder over onnx-proto: each `op` call appends one node and returns the
 * name of its output, so graphs read like straight-line code. Names are generated,
 * except for the graph's declared inputs and outputs.
 */
export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private counter = 0;

  constructor(
    private readonly name: string,
    /** A subgraph's names come from its parent, so that none shadows an outer one. */
    private readonly parent?: GraphBuilder,
  ) {}

  private fresh(hint: string): string {
    if (this.parent) return this.parent.fresh(hint);
    this.counter += 1;
    return `${hint}_${this.counter}`;
  }

  input(name: string, type: DType, dims: Dim[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  /** Declares `value` as a graph output under `name` (an Identity node gives it that name). */
  output(name: string, value: string, type: DType, dims: Dim[]): void {
    this.nodes.push({ opType: 'Identity', input: [value], output: [name], name: this.fresh('out') });
    this.outputs.push(valueInfo(name, type, dims));
  }

  constFloat(values: ArrayLike<number>, dims: number[], hint = 'cf'): string {
    const name = this.fresh(hint);
    this.initializers.push({
      name,
      dataType: DType.float,
      dims,
      rawData: new Uint8Array(Float32Array.from(values).buffer),
    });
    return name;
  }

  constInt64(values: ArrayLike<number>, dims: number[], hint = 'ci'): string {
    const name = this.fresh(hint);
    this.initializers.push({
      name,
      dataType: DType.int64,
      dims,
      rawData: new Uint8Array(BigInt64Array.from(Array.from(values, (v) => BigInt(v))).buffer),
    });
    return name;
  }

  /** A uint16 constant: large tables at half the size of float32 (Cast before arithmetic). */
  constUint16(values: Uint16Array, dims: number[], hint = 'cu16'): string {
    const name = this.fresh(hint);
    this.initializers.push({
      name,
      dataType: DType.uint16,
      dims,
      rawData: new Uint8Array(values.slice().buffer),
    });
    return name;
  }

  /** A scalar float constant (rank 0), broadcastable against anything. */
  scalar(value: number): string {
    return this.constFloat([value], []);
  }

  /** A scalar int64 constant (rank 0). */
  scalarInt(value: number): string {
    return this.constInt64([value], []);
  }

  /** Appends one node with a single output and returns that output's name. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    return this.opN(opType, inputs, 1, attrs)[0]!;
  }

  /** Appends one node with `count` outputs. */
  opN(opType: string, inputs: string[], count: number, attrs: Record<string, AttrValue> = {}): string[] {
    const outputs = Array.from({ length: count }, () => this.fresh(opType.toLowerCase()));
    this.nodes.push({
      opType,
      input: inputs,
      output: outputs,
      name: this.fresh(`n_${opType}`),
      attribute: Object.entries(attrs).map(([key, value]) => attribute(key, value)),
    });
    return outputs;
  }

  /** `x` split along `axis` into `count` equal parts (one node, however many are used). */
  split(x: string, count: number, axis = -1): string[] {
    return this.opN('Split', [x], count, { axis });
  }

  /**
   * `If(condition)`: runs the nodes `then` adds, or those `otherwise` adds, each in a
   * subgraph that may read any value of this graph, and returns the float result. Only
   * the branch taken runs, which is what makes it worth its overhead.
   */
  ifElse(
    condition: string,
    then: (sub: GraphBuilder) => string,
    otherwise: (sub: GraphBuilder) => string,
  ): string {
    const branch = (
      hint: string,
      build: (sub: GraphBuilder) => string,
    ): { graph: onnxProto.onnx.IGraphProto } => {
      const sub = new GraphBuilder(this.fresh(hint), this);
      const result = build(sub);
      const output = this.fresh(`${hint}_out`);
      sub.nodes.push({ opType: 'Identity', input: [result], output: [output], name: this.fresh('out') });
      return {
        graph: {
          name: sub.name,
          node: sub.nodes,
          initializer: sub.initializers,
          output: [{ name: output, type: { tensorType: { elemType: DType.float } } }],
        },
      };
    };
    return this.op('If', [condition], {
      then_branch: branch('then', then),
      else_branch: branch('else', otherwise),
    });
  }

  /** Serialises the graph as an ONNX model (IR 8, the given default-domain opset). */
  toBytes(opset = 17, docString = ''): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'glm-image-reference-pack',
      docString,
      opsetImport: [{ domain: '', version: opset }],
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function valueInfo(name: string, type: DType, dims: Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: type,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, value: AttrValue): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'number') {
    return Number.isInteger(value) ? { name, type: T.INT, i: value } : { name, type: T.FLOAT, f: value };
  }
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  if ('graph' in value) return { name, type: T.GRAPH, g: value.graph };
  return { name, type: T.TENSOR, t: value.tensor };
}
