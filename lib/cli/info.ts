/**
 * `resnet info`: what this installation can run on, and what `device: 'auto'` takes here.
 * @module
 */
import {
  backendInfo, getNumThreads, resolveDevice, version, type CpuBackendInfo, type CudaBackendInfo, type ImageDecoderInfo, type UnavailableBackendInfo,
} from '../index.js';
import { imageDecoderName } from '../server/image-decoder-choice.js';

function gibibytes(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

/** The CUDA block of the report: the GPU, its driver and runtime, and the cuDNN found (or why there is none). */
export function describeCuda(cuda: CudaBackendInfo | UnavailableBackendInfo): string[] {
  if (!cuda.available) return [`cuda: unavailable (${cuda.reason})`];
  return [
    `cuda: ${cuda.deviceName}, compute capability ${cuda.computeCapability}, ${gibibytes(cuda.memoryBytes)}` +
      `${cuda.devices > 1 ? ` (device 0 of ${cuda.devices})` : ''}`,
    `      driver ${cuda.driver}, CUDA runtime ${cuda.cudaRuntime}`,
    `      ${cuda.library} ${cuda.version} loaded from ${cuda.cudnnPath}`,
  ];
}

/** The image decoder line, "image decoder: <which> (<why>)"; a reason of several lines continues indented. */
export function describeImageDecoder(info: ImageDecoderInfo): string[] {
  const [first = '', ...rest] = info.reason.trimEnd().split('\n');
  const lines = [`image decoder: ${imageDecoderName(info)} (${first}${rest.length === 0 ? ')' : ''}`];
  rest.forEach((line, i) => lines.push(`      ${line}${i === rest.length - 1 ? ')' : ''}`));
  return lines;
}

/**
 * The CPU's low-precision line: the instruction sets found, and whether bfloat16 runs, e.g.
 * "low-precision ISAs: avx512_vnni avx512_bf16 (bfloat16 native)".
 */
export function describeLowPrecision(cpu: CpuBackendInfo): string {
  const found = cpu.lowPrecisionIsas.length > 0 ? cpu.lowPrecisionIsas.join(' ') : 'none';
  const bf16 = cpu.bfloat16 ? 'bfloat16 native' : `no bfloat16: oneDNN's ISA is ${cpu.isa}`;
  return `low-precision ISAs: ${found} (${bf16})`;
}

/** Prints the version, the backends found and their details. */
export function runInfo(options: { json?: boolean }): void {
  const info = backendInfo();
  const autoDevice = resolveDevice('auto', () => info.backends.cuda.available);
  const report = { version, threads: getNumThreads(), autoDevice, ...info };
  if (options.json) {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  const cpu = info.backends.cpu;
  console.log(`resnet-cudnn ${version} (addon ${info.addonVersion}), Node ${process.version}`);
  console.log(`cpu:  ${cpu.library} ${cpu.version}, ISA ${cpu.isa}, ${cpu.runtime} runtime, ${getNumThreads()} thread(s) per forward`);
  console.log(`      ${describeLowPrecision(cpu)}`);
  for (const line of describeCuda(info.backends.cuda)) console.log(line);
  for (const line of describeImageDecoder(info.imageDecoder)) console.log(line);
  console.log(`device 'auto' takes: ${autoDevice}`);
}
