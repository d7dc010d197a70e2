// Measurement aid for the thread policy (native/README.md): a model (resnet50) at batch 1 under each OpenMP wait
// policy, on an idle machine and beside a busy neighbour (`yes > /dev/null`, or a second process running
// forwards in a loop). Rounds are interleaved so that drifts in machine load spread over all cells.
// A policy `spin:N` leaves OMP_WAIT_POLICY unset and sets GOMP_SPINCOUNT=N (spin N rounds, then sleep).
//   node bench/native/thread-policy.mjs [rounds] [iterations] [policy,policy,...] [model]
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const rounds = Number(process.argv[2] ?? 2);
const iterations = Number(process.argv[3] ?? 20);
const model = process.argv[5] ?? 'resnet50';
const runner = fileURLToPath(new URL('./run-engine.mjs', import.meta.url));
const policies = (process.argv[4] ?? 'PASSIVE,ACTIVE,default').split(',');
function policyEnv(policy) {
  if (!policy.startsWith('spin:')) return { ...process.env, OMP_WAIT_POLICY: policy };
  return { ...process.env, OMP_WAIT_POLICY: 'default', GOMP_SPINCOUNT: policy.slice(5) };
}
const neighbours = {
  none: () => undefined,
  'yes > /dev/null': () => spawn('sh', ['-c', 'exec yes > /dev/null'], { stdio: 'ignore' }),
  'forward loop': (policy) => spawn(process.execPath, [runner, 'ours', model, '1', '100000'], { stdio: 'ignore', env: policyEnv(policy) }),
};

const samples = new Map();
for (let round = 0; round < rounds; round++) {
  for (const [neighbourName, start] of Object.entries(neighbours)) {
    for (const policy of policies) {
      const neighbour = start(policy);
      if (neighbour) spawnSync('sleep', ['3']); // let the neighbour get going (the loop compiles first)
      const result = spawnSync(process.execPath, [runner, 'ours', model, '1', String(iterations)], { encoding: 'utf8', env: policyEnv(policy) });
      neighbour?.kill();
      const { ms } = JSON.parse(result.stdout);
      const key = `${neighbourName} | ${policy}`;
      samples.set(key, [...(samples.get(key) ?? []), ...ms]);
    }
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log('| neighbour | OMP_WAIT_POLICY | median ms | img/s |');
console.log('| --- | --- | --- | --- |');
for (const [key, ms] of samples) {
  const [neighbour, policy] = key.split(' | ');
  console.log(`| ${neighbour} | ${policy} | ${median(ms).toFixed(1)} | ${(1000 / median(ms)).toFixed(1)} |`);
}
