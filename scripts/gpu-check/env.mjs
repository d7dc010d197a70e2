// Part "env" (Node side): what our addon reports about itself and the CUDA backend, under the environment
// this process was started with. gpu-check.sh runs it first as the user left the environment (what the
// loader finds on its own), then, only when CUDA was unavailable, with RESNET_CUDNN_PATH pointed at
// PyTorch's cuDNN. Each probe is appended to WORK/node_env.json; WORK/cuda_available gets yes or no.
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadLibrary } from './library.mjs';
import { readJson, toJson, describeError } from './results.mjs';

/**
 * @param {string} work @param {string} label  how the environment was set for this probe
 * @returns {Promise<boolean>} whether the CUDA backend is available
 */
export async function probeEnvironment(work, label) {
  /** @type {Record<string, unknown>} */
  const probe = {
    label,
    env: {
      RESNET_CUDNN_PATH: process.env.RESNET_CUDNN_PATH ?? null,
      LD_LIBRARY_PATH: process.env.LD_LIBRARY_PATH ?? null,
      CUDA_VISIBLE_DEVICES: process.env.CUDA_VISIBLE_DEVICES ?? null,
    },
    node: process.version,
    platform: `${os.platform()} ${os.arch()} ${os.release()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? null,
    memoryBytes: os.totalmem(),
  };
  let available = false;
  const { lib, error } = await loadLibrary();
  if (!lib) {
    probe.importError = error;
    console.log(`env[${label}]: ${error}`);
  } else {
    try {
      const info = lib.backendInfo();
      probe.info = info;
      probe.version = lib.version;
      available = info.backends.cuda.available === true;
      const cuda = info.backends.cuda;
      console.log(`env[${label}]: addon ${info.addonVersion}, CPU: ${info.backends.cpu.library} ${info.backends.cpu.version} (${info.backends.cpu.isa}, ${info.backends.cpu.threads} threads)`);
      console.log(
        available
          ? `env[${label}]: CUDA: ${cuda.deviceName} (compute ${cuda.computeCapability}, ${(cuda.memoryBytes / 2 ** 30).toFixed(1)} GiB, ${cuda.devices} device(s)), driver CUDA ${cuda.driver}, runtime ${cuda.cudaRuntime}, cuDNN ${cuda.version} from ${cuda.cudnnPath}`
          : `env[${label}]: CUDA unavailable: ${cuda.reason}`,
      );
    } catch (e) {
      probe.infoError = describeError(e);
      console.log(`env[${label}]: backendInfo() failed: ${probe.infoError}`);
    }
  }
  const file = path.join(work, 'node_env.json');
  const previous = readJson(file) ?? { part: 'env', probes: [] };
  previous.probes.push(probe);
  writeFileSync(file, toJson(previous));
  writeFileSync(path.join(work, 'cuda_available'), available ? 'yes\n' : 'no\n');
  return available;
}
