/**
 * `resnet info`: what this installation can run on.
 * @module
 */
import { backendInfo, getNumThreads, version } from '../index.js';

/** Prints the version, the backends found and their details. */
export function runInfo(options: { json?: boolean }): void {
  const info = backendInfo();
  const report = { version, threads: getNumThreads(), ...info };
  if (options.json) {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  const cpu = info.backends.cpu;
  const cuda = info.backends.cuda;
  console.log(`resnet-cudnn ${version} (addon ${info.addonVersion}), Node ${process.version}`);
  console.log(`cpu:  ${cpu.library} ${cpu.version}, ISA ${cpu.isa}, ${cpu.runtime} runtime, ${getNumThreads()} thread(s) per forward`);
  console.log(`cuda: ${cuda.available ? 'available' : `unavailable (${cuda.reason})`}`);
}
