// Measurement aid: torchvision-shaped ResNets with random weights, as the fused Graph the native engine
// takes (BatchNorm folded, ReLU and the residual add fused into convs) and as the equivalent ONNX model
// for onnxruntime-node, so both engines run the same numbers. Self-contained on purpose: it only serves
// the scripts beside it.

/** mulberry32, seeded, so both engines and every run see the same weights. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const specs = {
  resnet18: { block: 'basic', layers: [2, 2, 2, 2] },
  resnet34: { block: 'basic', layers: [3, 4, 6, 3] },
  resnet50: { block: 'bottleneck', layers: [3, 4, 6, 3] },
  resnet101: { block: 'bottleneck', layers: [3, 4, 23, 3] },
};

/** Builds `name` for a `size`x`size` input: `{ graph, onnx }` (onnx: Uint8Array of a ModelProto). */
export function buildResnet(name, size = 224, seed = 1) {
  const spec = specs[name];
  if (!spec) throw new Error(`unknown model ${name}`);
  const random = prng(seed);
  const values = [];
  const ops = [];
  const onnxNodes = [];
  const initializers = [];
  const addValue = (shape) => values.push({ shape }) - 1;
  const uniform = (n, scale) => Float32Array.from({ length: n }, () => (random() * 2 - 1) * scale);

  function conv(src, outChannels, kernel, stride, padding, relu, residual = -1, gain = 1) {
    const [c, h, w] = values[src].shape;
    const oh = Math.floor((h + 2 * padding - kernel) / stride) + 1;
    const ow = Math.floor((w + 2 * padding - kernel) / stride) + 1;
    const dst = addValue([outChannels, oh, ow]);
    const fanIn = c * kernel * kernel;
    // Uniform with He's variance keeps activations O(1) through the depth; gain < 1 on a block's last conv
    // plays the part of BatchNorm's small scale there.
    const weight = uniform(outChannels * fanIn, gain * Math.sqrt(6 / fanIn));
    const bias = uniform(outChannels, 0.1);
    ops.push({ op: 'conv', src, dst, residual, relu, outChannels, kernel: [kernel, kernel], stride: [stride, stride], padding: [padding, padding], dilation: [1, 1], groups: 1, weight, bias });
    const wName = `w${dst}`;
    const bName = `b${dst}`;
    initializers.push({ name: wName, dims: [outChannels, c, kernel, kernel], data: weight }, { name: bName, dims: [outChannels], data: bias });
    const convOut = residual >= 0 || relu ? `conv${dst}` : `v${dst}`;
    onnxNodes.push({ op: 'Conv', inputs: [`v${src}`, wName, bName], output: convOut, attrs: { kernel_shape: [kernel, kernel], strides: [stride, stride], pads: [padding, padding, padding, padding] } });
    let last = convOut;
    if (residual >= 0) {
      const sum = relu ? `sum${dst}` : `v${dst}`;
      onnxNodes.push({ op: 'Add', inputs: [last, `v${residual}`], output: sum });
      last = sum;
    }
    if (relu) onnxNodes.push({ op: 'Relu', inputs: [last], output: `v${dst}` });
    return dst;
  }

  const input = addValue([3, size, size]);
  let x = conv(input, 64, 7, 2, 3, true);
  const [c, h, w] = values[x].shape;
  const pooledSize = (s) => Math.floor((s + 2 - 3) / 2) + 1;
  const pooled = addValue([c, pooledSize(h), pooledSize(w)]);
  ops.push({ op: 'maxpool', src: x, dst: pooled, kernel: [3, 3], stride: [2, 2], padding: [1, 1], dilation: [1, 1], ceilMode: false });
  onnxNodes.push({ op: 'MaxPool', inputs: [`v${x}`], output: `v${pooled}`, attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] } });
  x = pooled;

  const expansion = spec.block === 'bottleneck' ? 4 : 1;
  let inplanes = 64;
  spec.layers.forEach((blocks, layer) => {
    const planes = 64 * 2 ** layer;
    for (let b = 0; b < blocks; b++) {
      const stride = b === 0 && layer > 0 ? 2 : 1;
      const identity = stride !== 1 || inplanes !== planes * expansion ? conv(x, planes * expansion, 1, stride, 0, false) : x;
      if (spec.block === 'bottleneck') {
        const a = conv(x, planes, 1, 1, 0, true);
        const m = conv(a, planes, 3, stride, 1, true);
        x = conv(m, planes * 4, 1, 1, 0, true, identity, 0.2);
      } else {
        const a = conv(x, planes, 3, stride, 1, true);
        x = conv(a, planes, 3, 1, 1, true, identity, 0.2);
      }
      inplanes = planes * expansion;
    }
  });

  const features = values[x].shape[0];
  const gap = addValue([features, 1, 1]);
  ops.push({ op: 'adaptive_avgpool', src: x, dst: gap });
  onnxNodes.push({ op: 'GlobalAveragePool', inputs: [`v${x}`], output: `v${gap}` });
  const flat = addValue([features]);
  ops.push({ op: 'flatten', src: gap, dst: flat });
  onnxNodes.push({ op: 'Flatten', inputs: [`v${gap}`], output: `v${flat}`, attrs: { axis: 1 } });
  const logits = addValue([1000]);
  const fcWeight = uniform(1000 * features, Math.sqrt(3 / features));
  const fcBias = uniform(1000, 0.1);
  ops.push({ op: 'linear', src: flat, dst: logits, outFeatures: 1000, weight: fcWeight, bias: fcBias });
  initializers.push({ name: 'fc_w', dims: [1000, features], data: fcWeight }, { name: 'fc_b', dims: [1000], data: fcBias });
  onnxNodes.push({ op: 'Gemm', inputs: [`v${flat}`, 'fc_w', 'fc_b'], output: `v${logits}`, attrs: { transB: 1 } });

  const graph = { values, input, outputs: [logits], ops };
  const onnx = encodeModel(onnxNodes, initializers, `v${input}`, [3, size, size], `v${logits}`, [1000]);
  return { graph, onnx, inputName: `v${input}`, outputName: `v${logits}` };
}

// ---- a minimal ONNX (protobuf) writer ----------------------------------------------------------------

class Writer {
  constructor() {
    this.parts = [];
  }
  varint(n) {
    let v = BigInt(n);
    const bytes = [];
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) b |= 0x80;
      bytes.push(b);
    } while (v > 0n);
    this.parts.push(Uint8Array.from(bytes));
  }
  key(field, wire) {
    this.varint((field << 3) | wire);
  }
  int(field, n) {
    this.key(field, 0);
    this.varint(n);
  }
  bytes(field, data) {
    this.key(field, 2);
    this.varint(data.length);
    this.parts.push(data);
  }
  string(field, s) {
    this.bytes(field, new TextEncoder().encode(s));
  }
  message(field, build) {
    const inner = new Writer();
    build(inner);
    this.bytes(field, inner.finish());
  }
  finish() {
    const total = this.parts.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(total);
    let offset = 0;
    for (const p of this.parts) {
      out.set(p, offset);
      offset += p.length;
    }
    return out;
  }
}

function valueInfo(w, name, perSample) {
  w.string(1, name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, 1); // FLOAT
      tensor.message(2, (shape) => {
        shape.message(1, (dim) => dim.string(2, 'N'));
        for (const d of perSample) shape.message(1, (dim) => dim.int(1, d));
      });
    }),
  );
}

function encodeModel(nodes, initializers, inputName, inputShape, outputName, outputShape) {
  const model = new Writer();
  model.int(1, 8); // ir_version
  model.string(2, 'resnet-cudnn bench');
  model.message(7, (graph) => {
    for (const node of nodes) {
      graph.message(1, (n) => {
        for (const i of node.inputs) n.string(1, i);
        n.string(2, node.output);
        n.string(4, node.op);
        for (const [name, value] of Object.entries(node.attrs ?? {})) {
          n.message(5, (a) => {
            a.string(1, name);
            if (Array.isArray(value)) {
              for (const v of value) a.int(8, v);
              a.int(20, 7); // INTS
            } else {
              a.int(3, value);
              a.int(20, 2); // INT
            }
          });
        }
      });
    }
    graph.string(2, 'resnet');
    for (const init of initializers) {
      graph.message(5, (t) => {
        for (const d of init.dims) t.int(1, d);
        t.int(2, 1);
        t.string(8, init.name);
        t.bytes(9, new Uint8Array(init.data.buffer, init.data.byteOffset, init.data.byteLength));
      });
    }
    graph.message(11, (v) => valueInfo(v, inputName, inputShape));
    graph.message(12, (v) => valueInfo(v, outputName, outputShape));
  });
  model.message(8, (opset) => {
    opset.string(1, '');
    opset.int(2, 13);
  });
  return model.finish();
}
