/**
 * The `resnet` command's subcommands, thin over the public API, and how a run ends (outcome.ts: exit 2
 * for a wrong command line, 1 for a failure, the error once, as JSON on stdout with `--json`). Loaded by
 * main.ts, which names a missing package instead of crashing on it.
 * @module
 */
import { Command, InvalidArgumentError as CommanderArgumentError, Option } from 'commander';
import { checkComputeDType, parseDevice, type ComputeDType, type DeviceSpec } from '../runtime/device.js';
import { version } from '../version.js';
import { runInfo } from './info.js';
import { runBench, type BenchCompetitor } from './bench.js';
import { runExport } from './export.js';
import { checkClassifyOptions, formatClassifications, runClassify } from './classify.js';
import { checkConvertPaths, formatConvertReport, runConvert } from './convert.js';
import { formatAccuracy, runEvalCifar10 } from './eval-cifar10.js';
import { checkQuantizeOptions, formatQuantizeReport, runQuantize } from './quantize.js';
import { checkModelName, type ModelFamily } from './model-names.js';
import { asUsage, reportError, type Output } from './outcome.js';
import { defineServeCommand } from './serve.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new CommanderArgumentError(`expected a positive integer but received ${JSON.stringify(value)}`);
  return n;
}

function batchList(value: string): number[] {
  return value.split(',').map((v) => positiveInt(v.trim()));
}

function competitorList(value: string): BenchCompetitor[] {
  const engines = value.split(',').map((v) => v.trim());
  for (const engine of engines) {
    if (engine !== 'onnxruntime' && engine !== 'pytorch') {
      throw new CommanderArgumentError(`--compare accepts onnxruntime and pytorch (comma-separated) but received ${JSON.stringify(engine)}`);
    }
  }
  return engines as BenchCompetitor[];
}

/** Commander's parsers report a bad value before any work, with the API's own wording. */
function commanderCheck<T>(check: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return check(value);
    } catch (error) {
      throw new CommanderArgumentError(error instanceof Error ? error.message : String(error));
    }
  };
}

const deviceOption = commanderCheck((value): DeviceSpec => {
  parseDevice(value, '--device');
  return value as DeviceSpec;
});
const dtypeOption = commanderCheck((value): ComputeDType => checkComputeDType(value, '--dtype'));

/** `--model`: a name of the families the command takes, refused while parsing (exit 2) with the choices. */
function modelOption(families: readonly ModelFamily[]): (value: string) => string {
  return commanderCheck((value) => {
    checkModelName(value, families);
    return value;
  });
}

/**
 * Whether the command line asks for JSON: its subcommand has a `--json` option and `--json` is among
 * its arguments (before any `--`). Read from the raw arguments, so that it holds for errors commander
 * finds before it has parsed the options.
 */
export function wantsJson(program: Command, args: readonly string[]): boolean {
  const command = program.commands.find((c) => c.name() === args[0] || c.aliases().includes(args[0] ?? ''));
  if (!command?.options.some((option) => option.long === '--json')) return false;
  const end = args.indexOf('--');
  return args.slice(1, end < 0 ? undefined : end).includes('--json');
}

/** The `resnet` program with every subcommand; commander's exits become thrown errors (outcome.ts reports them). */
export function buildProgram(): Command {
  const program = new Command('resnet')
    .description('Deep residual networks on oneDNN (CPU) and cuDNN (GPU)')
    .version(version)
    .showHelpAfterError()
    .exitOverride();

  program
    .command('info')
    .description('print the version, the backends found (oneDNN version and ISA; GPU, driver, CUDA runtime and cuDNN, or why CUDA is unavailable) and what device auto takes')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) => runInfo(opts));

  program
    .command('bench')
    .description('measure img/s and latency; with --compare, onnxruntime-node and/or PyTorch on the same weights in the same run')
    .option('-m, --model <name>', 'a torchvision ResNet (resnet18 … wide_resnet101_2) or a CIFAR-10 one (resnet20 … resnet1202)', modelOption(['imagenet', 'cifar10']), 'resnet50')
    .option('-b, --batch <list>', 'comma-separated batch sizes', batchList, [1, 8])
    .option('-n, --iters <n>', 'timed runs per batch size and engine', positiveInt, 20)
    .option('--warmup <n>', 'untimed runs first', positiveInt, 2)
    .option('-t, --threads <n>', 'CPU threads for each engine', positiveInt)
    .option('--input-size <n>', 'square input size (default 224; 32 for the CIFAR-10 networks)', positiveInt)
    .option('--device <device>', 'cpu, cuda, cuda:N or auto (the GPU when one works, else the CPU)', deviceOption, 'cpu')
    .option('--dtype <dtype>', 'float32, tf32, float16, bfloat16 or int8 (tf32 and float16 need a GPU; bfloat16 a GPU or a CPU with AVX512-BF16 or AMX; int8 the CPU: quantized on 8 random inputs unless --weights is quantized)', dtypeOption, 'float32')
    .option('-w, --weights <file>', 'the weights (.safetensors, or a PyTorch checkpoint; a quantized file from resnet quantize gives --dtype int8 its scales); default random ones')
    .option('--compare <engines>', 'competitors on the same weights, comma-separated: onnxruntime (interleaved with ours, --device cpu only), pytorch (eager and torch.compile in a Python process: RESNET_CUDNN_PYTHON or python3, with torch and torchvision)', competitorList)
    .addOption(new Option('--torch-compile <on|off>', 'with --compare pytorch: time torch.compile too (it compiles for minutes on a small CPU)').choices(['on', 'off']).default('on'))
    .option('--torch-timeout <s>', 'with --compare pytorch: time limit of the PyTorch process, seconds', positiveInt, 900)
    .option('--chart <file.svg>', 'also draw img/s by batch size, one line per engine (medians, p10-p90 bars), as an SVG (needs vega and vega-lite)')
    .addOption(new Option('--input-dtype <dtype>', 'our input\'s element type (uint8: pixels, converted by the engine)').choices(['float32', 'float16', 'uint8']).default('float32'))
    .addOption(new Option('--input-layout <layout>', 'our input\'s layout (nhwc: as decoders write pixels)').choices(['nchw', 'nhwc']).default('nchw'))
    .option('--json', 'print the rows as JSON instead of a table')
    .action(async (opts) => {
      const rows = await runBench({
        model: opts.model,
        batches: opts.batch,
        iters: opts.iters,
        warmup: opts.warmup,
        threads: opts.threads,
        inputSize: opts.inputSize,
        inputDType: opts.inputDtype,
        inputLayout: opts.inputLayout,
        device: opts.device,
        dtype: opts.dtype,
        weights: opts.weights,
        compare: opts.compare,
        torchCompile: opts.torchCompile === 'on',
        torchTimeoutS: opts.torchTimeout,
        chart: opts.chart,
        json: opts.json,
      });
      if (opts.json) console.log(JSON.stringify(rows, null, 2));
    });

  program
    .command('export')
    .description('write a model as ONNX (random weights, or --weights FILE; a quantized weights file from resnet quantize is written as int8 QDQ)')
    .requiredOption('-m, --model <name>', 'a torchvision ResNet (resnet18 … wide_resnet101_2) or a CIFAR-10 one (resnet20 … resnet1202)', modelOption(['imagenet', 'cifar10']))
    .requiredOption('-o, --out <file>', 'output .onnx file')
    .option('-w, --weights <file>', 'the weights: .safetensors (a quantized one gives a QDQ model) or a PyTorch checkpoint (.pth/.pt/.th/.tar)')
    .option('--num-classes <n>', 'classifier size', positiveInt)
    .option('--opset <n>', 'ONNX opset', positiveInt, 17)
    .option('--input-size <n>', 'square input size recorded in the graph (default 224; 32 for the CIFAR-10 networks)', positiveInt)
    .option('--static-batch', 'fix the batch dimension to 1')
    .option('--fold-batch-norm', 'fold BatchNorm into the convolutions')
    .action(async (opts) => runExport(opts));

  program
    .command('classify')
    .description('print the top ImageNet classes of images, with their probabilities')
    .argument('<images...>', 'image files (JPEG, PNG, WebP)')
    .option('-m, --model <name>', 'a torchvision ResNet (resnet18 … wide_resnet101_2)', modelOption(['imagenet']), 'resnet50')
    .option('-w, --weights <name|file>', "a weights name of the model (IMAGENET1K_V2, DEFAULT) or a .pth/.pt/.safetensors file (then the DEFAULT weights' transforms and categories apply)", 'DEFAULT')
    .option('-k, --topk <n>', 'classes per image', positiveInt, 5)
    .option('--device <device>', 'cpu, cuda, cuda:N or auto (the GPU when one works, else the CPU)', deviceOption)
    .option('--json', 'print the results as JSON')
    .action(async (images: string[], opts) => {
      const options = { model: opts.model, weights: opts.weights, topk: opts.topk, device: opts.device };
      await asUsage(() => checkClassifyOptions(options));
      const results = await runClassify(images, options);
      console.log(opts.json ? JSON.stringify(results, null, 2) : formatClassifications(results));
    });

  program
    .command('convert')
    .description('convert a state dict between a PyTorch checkpoint (.pth, .pt, .th) and safetensors, by the extensions')
    .argument('<in>', 'input file')
    .argument('<out>', 'output file')
    .option('--strip-prefix <prefix>', 'remove this prefix from the keys that have it (module. for DataParallel checkpoints)')
    .option('--json', 'print what was written as JSON (path, format, tensors, bytes)')
    .action(async (input: string, output: string, opts: { stripPrefix?: string; json?: boolean }) => {
      await asUsage(() => checkConvertPaths(input, output));
      const report = await runConvert(input, output, opts.stripPrefix === undefined ? {} : { stripPrefix: opts.stripPrefix });
      console.log(opts.json ? JSON.stringify(report, null, 2) : formatConvertReport(report));
    });

  program
    .command('quantize')
    .description('post-training static quantization: calibrate a model on images and write its int8 weights file (safetensors with the scales)')
    .requiredOption('-m, --model <name>', 'a torchvision ResNet (resnet18 … wide_resnet101_2) or a CIFAR-10 one (resnet20 … resnet1202)', modelOption(['imagenet', 'cifar10']))
    .requiredOption('-w, --weights <file>', 'the float weights: .safetensors or a PyTorch checkpoint (.pth/.pt/.th/.tar; a CIFAR checkpoint\'s module. prefix is stripped)')
    .requiredOption('-c, --calibration <dir|file>', "calibration inputs: a directory of images or one image (the DEFAULT weights' preprocessing; CIFAR-10 models: 32x32 and CIFAR normalisation), a CIFAR-10 .bin file, or a .safetensors file with one float32 [N, 3, H, W] tensor of normalised inputs")
    .requiredOption('-o, --out <file>', 'the quantized .safetensors file to write')
    .addOption(new Option('--method <method>', 'how activation ranges are chosen (default minmax)').choices(['minmax', 'percentile', 'entropy']))
    .option('--per-tensor', 'one weight scale per convolution instead of one per output channel')
    .option('--quantize-input', 'quantize the input too, so that the stem conv runs in integers (default: both stay float)')
    .option('--calibration-images <n>', 'at most this many calibration images (the first ones)', positiveInt, 256)
    .option('-b, --batch <n>', 'images per calibration run', positiveInt, 32)
    .option('--json', 'print the report as JSON (with every conv output\'s scale)')
    .action(async (opts) => {
      const options = {
        model: opts.model, weights: opts.weights, calibration: opts.calibration, out: opts.out, method: opts.method,
        perTensor: Boolean(opts.perTensor), quantizeInput: Boolean(opts.quantizeInput), calibrationImages: opts.calibrationImages, batch: opts.batch,
      };
      await asUsage(() => checkQuantizeOptions(options));
      const report = await runQuantize(options);
      console.log(opts.json ? JSON.stringify(report, null, 2) : formatQuantizeReport(report));
    });

  program
    .command('eval-cifar10')
    .description('top-1 accuracy of a CIFAR-10 ResNet checkpoint on a CIFAR-10 binary file (progress on stderr)')
    .option('-m, --model <name>', 'CIFAR ResNet name (resnet20 … resnet1202)', modelOption(['cifar10']), 'resnet20')
    .requiredOption('-w, --weights <file>', 'checkpoint (.th/.pth/.pt, module. prefix stripped) or .safetensors file')
    .requiredOption('-d, --data <file>', 'CIFAR-10 binary file (test_batch.bin)')
    .option('-b, --batch <n>', 'images per forward pass', positiveInt, 100)
    .option('--device <device>', 'cpu, cuda, cuda:N or auto (the GPU when one works, else the CPU)', deviceOption)
    .option('--dtype <dtype>', 'float32, tf32, float16, bfloat16 or int8 (int8: quantized first unless --weights is a quantized file; the float32 count is printed beside)', dtypeOption)
    .option('-c, --calibration <dir|file>', 'with --dtype int8: calibration inputs (a CIFAR-10 .bin file, a directory of images, an image or a .safetensors tensor; default the --data file)')
    .option('--calibration-images <n>', 'with --dtype int8: calibrate on at most this many images, the first ones (default 256)', positiveInt)
    .addOption(new Option('--method <method>', 'with --dtype int8: how activation ranges are chosen (default minmax)').choices(['minmax', 'percentile', 'entropy']))
    .option('--quantize-input', 'with --dtype int8: quantize the input too, so that the stem conv runs in integers')
    .option('--json', 'print the result as JSON')
    .action(async (opts) => {
      const result = await runEvalCifar10({
        model: opts.model, weights: opts.weights, data: opts.data, batch: opts.batch, device: opts.device, dtype: opts.dtype,
        calibration: opts.calibration, calibrationImages: opts.calibrationImages, method: opts.method, quantizeInput: opts.quantizeInput,
      });
      console.log(opts.json ? JSON.stringify(result, null, 2) : formatAccuracy(result));
    });

  defineServeCommand(program.command('serve'));
  return program;
}

/**
 * Runs the command line `argv` (as `process.argv`: node, the script, then the arguments) and resolves to
 * the exit code; a server keeps the process alive after it resolves.
 */
export async function main(argv: readonly string[], output?: Output): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (error) {
    return reportError(error, wantsJson(program, argv.slice(2)), output);
  }
}
