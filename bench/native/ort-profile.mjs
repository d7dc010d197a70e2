// Measurement aid: onnxruntime-node's own per-node profile of a ResNet (the same export the benchmark uses), to
// compare layer by layer with ours (`ONEDNN_VERBOSE=1` prints oneDNN's per-primitive times).
//   node bench/native/ort-profile.mjs <18|50> [batch]
import * as ort from 'onnxruntime-node';
import { readFileSync } from 'node:fs';
import { resnet18, resnet50, toOnnxBytes, manualSeed } from '../../dist/index.js';
manualSeed(0);
const m = process.argv[2] === '50' ? resnet50() : resnet18();
const b = Number(process.argv[3] ?? 1);
const s = await ort.InferenceSession.create(toOnnxBytes(m, { inputShape: [3,224,224] }), { intraOpNumThreads: 2, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all', enableProfiling: true, profileFilePrefix: '/tmp/ortprof' });
const feeds = { input: new ort.Tensor('float32', new Float32Array(b*3*224*224).map((_, i) => Math.sin(i)), [b,3,224,224]) };
for (let i = 0; i < 8; i++) await s.run(feeds);
s.endProfiling(); await s.release(); const { readdirSync } = await import('node:fs'); const file = '/tmp/' + readdirSync('/tmp').filter(f => f.startsWith('ortprof')).sort().pop();
const ev = JSON.parse(readFileSync(file, 'utf8'));
const nodes = ev.filter(e => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
const runs = 8; const per = new Map();
for (const e of nodes) { const k = e.args.op_name; per.set(k, (per.get(k) ?? 0) + e.dur / runs); }
console.log([...per].map(([k, v]) => `${k} ${(v/1000).toFixed(2)} ms`).join('\n'));
const last = nodes.slice(-nodes.length / runs);
console.log(last.map(e => `${(e.dur/1000).toFixed(3)} ${e.args.op_name} ${e.name.slice(0,40)}`).join('\n'));
