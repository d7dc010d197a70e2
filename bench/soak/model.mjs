// @ts-check
/**
 * The model the soak serves, built here too, so that every valid request's logits are known before the
 * server sees it: the library makes the architecture with weights from a seeded generator (or loads
 * `--weights FILE`), writes them to a safetensors file the server loads (`ARCH=FILE`), and computes the
 * reference logits in this process on the CPU, from the same pixels through the library's own
 * preprocessing (`readImage` + `preprocess` for encoded images, `(p / 255 − mean) / std` for UINT8). The
 * server's path (HTTP, batching, its image workers, the engine's own normalisation) is independent of it.
 * @module
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = new URL('../../dist/', import.meta.url);

/** The built library; an error with the fix when `npm run build` has not been run. */
async function library() {
  if (!existsSync(fileURLToPath(new URL('index.js', dist)))) throw new Error('dist/index.js is missing: run `npm run build` before `npm run soak`');
  return import(new URL('index.js', dist).href);
}

/**
 * The preprocessing the server applies to the model's encoded images: the default weights' transforms of an
 * ImageNet architecture (what a weights file gets), or the CIFAR-10 ones (resize and crop to 32, upstream's
 * normalisation). Mirrors lib/server/model-source.ts, which is the contract under test.
 * @param {any} lib @param {string} arch @param {boolean} cifar
 */
function transformsOf(lib, arch, cifar) {
  if (cifar) {
    const { mean, std } = lib.cifarResNetNormalization;
    return { resizeSize: 32, cropSize: 32, interpolation: 'bilinear', mean: [...mean], std: [...std] };
  }
  const { resizeSize, cropSize, interpolation, mean, std } = lib.getModelWeights(arch).DEFAULT.transforms();
  return { resizeSize, cropSize, interpolation, mean: [...mean], std: [...std] };
}

/**
 * Builds `arch` with seeded (or given) weights and writes them where the server will read them.
 * @param {{ arch: string; seed: number; weights: string | null; dir: string }} options
 */
export async function prepareModel(options) {
  const lib = await library();
  const cifar = lib.listCifarModels().includes(options.arch);
  if (!cifar && !lib.listModels().includes(options.arch)) {
    throw new Error(`--model expects one of ${[...lib.listModels(), ...lib.listCifarModels()].join(', ')} but received ${JSON.stringify(options.arch)}`);
  }
  let model;
  let weightsFile;
  if (options.weights === null) {
    const generator = new lib.Generator(options.seed);
    model = cifar ? lib.getCifarModel(options.arch, { generator }) : lib.getModel(options.arch, { weights: null, generator });
    weightsFile = path.join(options.dir, `${options.arch}-seed${options.seed}.safetensors`);
    await lib.saveSafetensors(weightsFile, model.stateDict());
  } else {
    weightsFile = path.resolve(options.weights);
    const stateDict = weightsFile.endsWith('.safetensors')
      ? lib.extractStateDict(await lib.loadSafetensors(weightsFile), { stripPrefix: true })
      : await lib.loadStateDictFile(weightsFile, { stripPrefix: true });
    const classifier = stateDict[cifar ? 'linear.weight' : 'fc.weight'];
    const numClasses = classifier?.ndim === 2 ? classifier.shape[0] : undefined;
    model = cifar ? lib.getCifarModel(options.arch, { numClasses }) : lib.getModel(options.arch, { weights: null, numClasses });
    model.loadStateDict(stateDict);
  }
  const transforms = transformsOf(lib, options.arch, cifar);
  return {
    /** `ARCH=FILE` for `resnet serve --model`. */
    spec: `${options.arch}=${weightsFile}`,
    weightsDescription: options.weights === null ? `random, seed ${options.seed} (written by the soak)` : weightsFile,
    transforms,
    /**
     * Reference logits of FP32 NCHW input `[n, 3, H, W]`.
     * @param {Float32Array} values @param {number} n
     * @returns {Promise<Float32Array>}
     */
    async logitsOfFloats(values, n) {
      const size = transforms.cropSize;
      const out = await model.forward(lib.Tensor.from(values, [n, 3, size, size]));
      return Float32Array.from(out.data);
    },
    /**
     * Reference logits of UINT8 NCHW pixels, normalised here in float32 steps as the engine documents it.
     * @param {Uint8Array} pixels @param {number} n
     */
    async logitsOfPixels(pixels, n) {
      const plane = transforms.cropSize ** 2;
      const f = Math.fround;
      const values = Float32Array.from(pixels, (p, i) => {
        const c = Math.floor(i / plane) % 3;
        return f(f(f(p * f(1 / 255)) - f(transforms.mean[c])) / f(transforms.std[c]));
      });
      return this.logitsOfFloats(values, n);
    },
    /**
     * Reference logits of encoded images (PNG, JPEG), through the library's decoder and preprocessing.
     * @param {readonly Uint8Array[]} images
     */
    async logitsOfImages(images) {
      const decoded = await Promise.all(images.map((bytes) => lib.readImage(bytes)));
      const input = lib.preprocess(decoded, transforms);
      const out = await model.forward(input);
      return Float32Array.from(out.data);
    },
    /** Frees the model's compiled executables (the soak's own memory is not what it measures, but keep it small). */
    dispose() {
      model.dispose?.();
    },
  };
}

/** @typedef {Awaited<ReturnType<typeof prepareModel>>} SoakModel */
