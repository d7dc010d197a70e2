/**
 * `resnet bench --dtype int8 --compare onnxruntime`: onnxruntime runs its float32 model and the QDQ export
 * (every conv and residual add fused into its integer kernels) next to ours; where our int8 model cannot run,
 * its row says why instead of timing something else. Without a quantized --weights file, ours is quantized
 * on a few random inputs of the bench, and the table says so.
 */
import { describe, expect, it } from 'vitest';
import { resnet } from '../helpers/cli-runner.js';

interface Row {
  batch: number;
  engine: string;
  dtype: string;
  imgPerSec: number | null;
  ratio?: number;
  relL2?: number;
  notRun?: string;
}

describe('resnet bench --dtype int8', () => {
  it('times our int8 model, quantized on random inputs, next to onnxruntime float32 and the QDQ export of the same scales', async () => {
    const { stdout, stderr, code } = await resnet('bench', '--model', 'resnet18', '--input-size', '64', '--batch', '1', '--iters', '2', '--warmup', '1', '--threads', '1', '--dtype', 'int8', '--compare', 'onnxruntime', '--json');
    expect(code, stderr).toBe(0);
    const rows = JSON.parse(stdout) as Row[];
    expect(rows.map((r) => [r.engine.replace(/\d+\.\d+\.\d+/, 'V'), r.dtype])).toEqual([
      ['resnet-cudnn (cpu)', 'int8'],
      ['onnxruntime-node V', 'float32'],
      ['onnxruntime-node V int8 QDQ', 'int8'],
    ]);
    const [ours, fp32, int8] = rows as [Row, Row, Row];
    // Ours runs now: quantize() on random inputs of the bench, the same quantized model exported as QDQ.
    expect(ours.notRun, ours.notRun).toBeUndefined();
    for (const r of [ours, fp32, int8]) expect(r.imgPerSec).toBeGreaterThan(0);
    expect(fp32.ratio).toBeCloseTo(ours.imgPerSec! / fp32.imgPerSec!, 6);
    expect(int8.ratio).toBeCloseTo(ours.imgPerSec! / int8.imgPerSec!, 6);
    // Our int8 logits against onnxruntime's float32 ones on the fixed input.
    expect(ours.relL2).toBeGreaterThan(0);
    expect(ours.relL2).toBeLessThan(0.2);
    // The int8 logits against onnxruntime's float32 ones on the fixed input: quantized, but the same network.
    expect(int8.relL2).toBeGreaterThan(0);
    expect(int8.relL2).toBeLessThan(0.2);
  });
});
