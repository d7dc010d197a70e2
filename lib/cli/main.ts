#!/usr/bin/env node
/**
 * The `resnet` command: thin subcommands over the public API.
 * @module
 */
import { Command, InvalidArgumentError as CommanderArgumentError } from 'commander';
import { ResnetError } from '../errors.js';
import { version } from '../version.js';
import { runInfo } from './info.js';
import { runBench } from './bench.js';
import { runExport } from './export.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new CommanderArgumentError(`expected a positive integer but received ${JSON.stringify(value)}`);
  return n;
}

function batchList(value: string): number[] {
  return value.split(',').map((v) => positiveInt(v.trim()));
}

const program = new Command('resnet')
  .description('Deep residual networks on oneDNN (CPU) and cuDNN (GPU)')
  .version(version)
  .showHelpAfterError();

program
  .command('info')
  .description('print the version, the backends found, the oneDNN version and ISA, and CUDA status')
  .option('--json', 'machine-readable output')
  .action((opts: { json?: boolean }) => runInfo(opts));

program
  .command('bench')
  .description('measure img/s and latency; with --compare, onnxruntime-node on the same weights in the same run')
  .option('-m, --model <name>', 'model name', 'resnet50')
  .option('-b, --batch <list>', 'comma-separated batch sizes', batchList, [1, 8])
  .option('-n, --iters <n>', 'timed runs per batch size and engine', positiveInt, 20)
  .option('--warmup <n>', 'untimed runs first', positiveInt, 2)
  .option('-t, --threads <n>', 'CPU threads for each engine', positiveInt)
  .option('--input-size <n>', 'square input size', positiveInt, 224)
  .option('--compare <engine>', 'competitor to run interleaved: onnxruntime')
  .option('--json', 'print the rows as JSON instead of a table')
  .action(async (opts) => {
    if (opts.compare !== undefined && opts.compare !== 'onnxruntime') {
      throw new CommanderArgumentError(`--compare accepts "onnxruntime" but received ${JSON.stringify(opts.compare)}`);
    }
    const rows = await runBench({
      model: opts.model,
      batches: opts.batch,
      iters: opts.iters,
      warmup: opts.warmup,
      threads: opts.threads,
      inputSize: opts.inputSize,
      compare: opts.compare,
      json: opts.json,
    });
    if (opts.json) console.log(JSON.stringify(rows, null, 2));
  });

program
  .command('export')
  .description('write a model as ONNX (random weights, or --weights FILE.safetensors)')
  .requiredOption('-m, --model <name>', 'model name')
  .requiredOption('-o, --out <file>', 'output .onnx file')
  .option('-w, --weights <file>', 'state dict in safetensors format')
  .option('--num-classes <n>', 'classifier size', positiveInt)
  .option('--opset <n>', 'ONNX opset', positiveInt, 17)
  .option('--input-size <n>', 'square input size recorded in the graph', positiveInt, 224)
  .option('--static-batch', 'fix the batch dimension to 1')
  .option('--fold-batch-norm', 'fold BatchNorm into the convolutions')
  .action(async (opts) => runExport(opts));

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof ResnetError) {
    console.error(`resnet: ${error.message} [${error.code}]`);
  } else {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  }
  process.exitCode = 1;
});
