// Measurement aid: the native engine against onnxruntime-node on the same ResNet weights (float32, CPU,
// 2 threads each), one engine per child process, rounds interleaved so that load drifts hit both alike.
//   node bench/native/compare-ort.mjs [rounds] [model:batch:iterations ...]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const runner = fileURLToPath(new URL('./run-engine.mjs', import.meta.url));
const rounds = Number(process.argv[2] ?? 3);
const cells = (process.argv.length > 3 ? process.argv.slice(3) : ['resnet50:1:20', 'resnet50:8:4', 'resnet18:1:40', 'resnet18:8:8']).map((cell) => {
  const [model, batch, iterations] = cell.split(':');
  return { model, batch: Number(batch), iterations: Number(iterations) };
});

const results = new Map();
for (let round = 0; round < rounds; round++) {
  for (const cell of cells) {
    for (const engine of round % 2 ? ['ort', 'ours'] : ['ours', 'ort']) {
      const run = spawnSync(process.execPath, [runner, engine, cell.model, String(cell.batch), String(cell.iterations), '2'], { encoding: 'utf8' });
      if (run.status !== 0) throw new Error(`${engine} ${cell.model} failed: ${run.stderr}`);
      const { ms, output } = JSON.parse(run.stdout);
      const key = `${cell.model}|${cell.batch}`;
      const entry = results.get(key) ?? { ours: [], ort: [], outputs: {} };
      entry[engine].push(...ms);
      entry.outputs[engine] = output;
      results.set(key, entry);
    }
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log('| model | batch | ours img/s | onnxruntime img/s | ratio | max |Δ| of 8 logits |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const [key, { ours, ort, outputs }] of results) {
  const [model, batch] = key.split('|');
  const oursRate = (Number(batch) * 1000) / median(ours);
  const ortRate = (Number(batch) * 1000) / median(ort);
  const delta = Math.max(...outputs.ours.map((v, i) => Math.abs(v - outputs.ort[i])));
  console.log(`| ${model} | ${batch} | ${oursRate.toFixed(2)} | ${ortRate.toFixed(2)} | ${(oursRate / ortRate).toFixed(2)} | ${delta.toExponential(1)} |`);
}
