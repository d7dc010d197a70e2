/**
 * The server's shared vocabulary: the Open Inference Protocol's wire types (KServe V2, as Triton spells
 * them), what a served model declares about its tensors ({@link ModelSignature}), the parsed form of an
 * inference request, and the options of `createServer`. Components meet here and nowhere else.
 * @module
 */
import type { ComputeDType, DeviceSpec } from '../runtime/device.js';

// ---------------------------------------------------------------- wire types (protocol §4–§8)

/** Datatype names of the protocol (§8), case-sensitive. */
export type Datatype =
  | 'BOOL' | 'UINT8' | 'UINT16' | 'UINT32' | 'UINT64' | 'INT8' | 'INT16' | 'INT32' | 'INT64'
  | 'FP16' | 'BF16' | 'FP32' | 'FP64' | 'BYTES';

/** A flat key/value map at request, input, output and response level. */
export type Parameters = Record<string, string | number | boolean>;

/** `$metadata_tensor`: `-1` marks the variable (batch) dimension. */
export interface TensorMetadata {
  name: string;
  datatype: Datatype;
  shape: number[];
}

/** `$metadata_server_response` (`GET /v2`). */
export interface ServerMetadata {
  name: string;
  version: string;
  extensions: string[];
}

/** `$metadata_model_response` (`GET /v2/models/{m}`). */
export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

// ---------------------------------------------------------------- what a served model declares

/** One input or output of a served model; the batch dimension is implied (first, variable). */
export interface TensorSignature {
  name: string;
  /** The declared datatype (metadata); for inputs, `accepts` lists every datatype the server takes. */
  datatype: Datatype;
  /** Per-sample shape, without the batch dimension: `[3, 224, 224]` for `input`, `[1000]` for `output`. */
  sampleShape: readonly number[];
}

/** The order of an image tensor's sample dims: `[C, H, W]` or `[H, W, C]` (Triton's FORMAT_NCHW / FORMAT_NHWC). */
export type TensorLayout = 'NCHW' | 'NHWC';

/** The numeric datatypes an image input may carry (besides BYTES, encoded images). */
export type ImageDatatype = 'FP32' | 'FP16' | 'UINT8';

/**
 * An input: its declared form (metadata, `/config`: what perf_analyzer generates), and every form the
 * server takes: images as FP32 or FP16 (the model's input, normalised as the weights expect) or UINT8
 * (pixels, normalised by the engine with the weights' mean and std), in either layout, and BYTES
 * (encoded images, one JPEG/PNG/WebP per sample).
 */
export interface InputSignature extends TensorSignature {
  accepts: readonly Datatype[];
  /** The declared layout of `sampleShape`. */
  layout: TensorLayout;
  /** The image each sample is: channels, height, width. */
  image: { channels: number; height: number; width: number };
}

/** An output; `labels` (index → class name) feed the classification extension's `score:index:label`. */
export interface OutputSignature extends TensorSignature {
  labels: readonly string[] | null;
}

/** Everything the protocol layer needs to validate a request against a model and describe it. */
export interface ModelSignature {
  name: string;
  version: string;
  /** Informational (`<project>_<format>`, protocol §5). */
  platform: string;
  maxBatchSize: number;
  inputs: readonly InputSignature[];
  outputs: readonly OutputSignature[];
}

// ---------------------------------------------------------------- a parsed inference request

/** An input tensor as the request carried it, validated against the model's signature. */
export type ParsedInput =
  /**
   * Image samples, `shape` `[N, C, H, W]` or `[N, H, W, C]` as `layout` says; `data` is their little-endian
   * bytes where the request carried them (a view on the body or the shared-memory region, not a copy), or
   * the values of JSON `data` encoded so.
   */
  | { name: string; datatype: ImageDatatype; shape: number[]; layout: TensorLayout; data: Uint8Array }
  /** Encoded images, one per sample (shape `[N]` or `[N, 1]`), raw bytes (binary) or decoded base64 (JSON). */
  | { name: string; datatype: 'BYTES'; shape: number[]; elements: Buffer[] };

/** One output the client asked for (all of the model's when the request lists none). */
export interface RequestedOutput {
  name: string;
  /** Send as binary (the `binary_data` parameter, else the request's `binary_data_output`). */
  binary: boolean;
  /** Top-N classification strings instead of the raw tensor (the `classification` parameter); 0: raw. */
  classification: number;
  /** Written into this shared-memory range instead of the response (the `shared_memory_*` parameters). */
  sharedMemory?: SharedMemoryOutput;
}

/** Where an output asked for in shared memory goes: the client's names, and the bytes the request holds. */
export interface SharedMemoryOutput {
  region: string;
  offset: number;
  /** As the client gave it: at least the output's size. */
  byteSize: number;
  /** `byteSize` bytes of the region from `offset`, in place. */
  bytes: Uint8Array;
}

/** An inference request after parsing and validation (protocol §6, §9, §10). */
export interface ParsedInferRequest {
  id?: string;
  /** Samples in the request (the first dimension of every input; all inputs agree). */
  batchSize: number;
  inputs: ParsedInput[];
  outputs: RequestedOutput[];
  /** Triton's `timeout` request parameter (schedule_policy), in microseconds; undefined: the model's default. */
  timeoutMicroseconds?: number;
}

/** One computed output of a request: `batchSize × prod(sampleShape)` float32 values, row-major. */
export interface ComputedOutput {
  name: string;
  values: Float32Array;
}

// ---------------------------------------------------------------- options of createServer

/** Triton's dynamic-batching vocabulary, per model. */
export interface BatchingOptions {
  /** Largest batch the batcher forms, and the largest batch one request may carry. Default 8. */
  maxBatchSize?: number;
  /** Batch sizes the batcher prefers to form (each ≤ maxBatchSize); also compiled ahead. Default none. */
  preferredBatchSizes?: number[];
  /**
   * How long a request may wait for others to join its batch. Default 0, as Triton: requests that
   * arrive while the model's instances are busy batch up anyway, and a lone request should not wait
   * (1000 µs added 1.5 ms to every request at concurrency 1 and no throughput under load).
   */
  maxQueueDelayMicroseconds?: number;
  /** Requests that may wait in the queue; beyond it a request gets 503 with `Retry-After`. Default 64. */
  maxQueueSize?: number;
  /**
   * Batches executing at once (Triton's instance count). Default 4 on a GPU; on the CPU 2 when the server
   * has 2 or more compute threads, else 1.
   *
   * On the CPU the compute threads are split between the instances (2 instances on 4 threads: 2 threads
   * each), so busy instances run side by side on their own cores, without a barrier between them; a batch
   * that runs alone (nothing else in flight or queued) uses every thread, so light load keeps the latency
   * of one wide forward. Measured on a 2-core machine (resnet18, batch 8): two 1-thread forwards side by
   * side served 154 img/s against 140 img/s for one 2-thread forward at a time, and lost less to the
   * server's own work on the same cores.
   */
  instanceCount?: number;
  /** Queue timeout of a request that sends none (Triton's default_timeout_microseconds); 0: none. Default 0. */
  defaultTimeoutMicroseconds?: number;
}

/** One model to serve. */
export interface ModelOptions extends BatchingOptions {
  /** The architecture: a name of `listModels()` (`resnet50`) or of `listCifarModels()` (`resnet20`). */
  arch: string;
  /** The name clients use in URLs; default `arch`. Must match `[A-Za-z0-9_.-]+`. */
  name?: string;
  /** The version it answers to (`/versions/N`); default `'1'`. */
  version?: string;
  /**
   * A weights name of the architecture's family (`IMAGENET1K_V2`, `DEFAULT`; downloaded into PyTorch's
   * cache when missing), or a checkpoint file (`.pth`/`.pt`/`.th`/`.safetensors`). Undefined or null:
   * random initialisation (outputs are meaningless; for load tests), logged as a warning.
   */
  weights?: string | null;
  /** Where it runs: `cpu`, `cuda`, `cuda:N` or `auto`. Default `cpu`. */
  device?: DeviceSpec;
  /** Compute dtype. Default `float32`. `int8` runs a quantized weights file (`resnet quantize`, `saveQuantized`) on the CPU. */
  dtype?: ComputeDType;
  /** Time cuDNN's algorithms when compiling (GPU only). Default false. */
  benchmark?: boolean;
  /** Input height and width. Default the weights' crop size, else 224 (ImageNet models) or 32 (CIFAR). */
  inputSize?: number;
  /**
   * The input's declared datatype, in model metadata and `/config` (what clients such as perf_analyzer
   * generate). Every form is accepted whatever is declared. Default `FP32`.
   */
  inputDatatype?: ImageDatatype;
  /** The declared layout; default `NHWC` for `UINT8` (decoders' order), else `NCHW`. */
  inputLayout?: TensorLayout;
  /**
   * What decodes BYTES images: `auto` (default) takes nvJPEG on the model's GPU where `info().imageDecoder`
   * finds it usable (images it cannot take go to the CPU workers), else the CPU workers; `cpu` always the CPU
   * workers (Pillow-exact pixels).
   */
  imageDecoder?: 'auto' | 'cpu';
}

/** Log levels (pino's). */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** Options of `createServer`; the CLI's flags and config file map onto these one to one. */
export interface ServerOptions {
  models: ModelOptions[];
  /** Default `0.0.0.0` (all interfaces, as Triton). */
  host?: string;
  /** Default 8000 (Triton's HTTP port); 0 picks a free port. */
  port?: number;
  /**
   * The port of the gRPC endpoint (Triton's `inference.GRPCInferenceService`, on the same host, answered by
   * the main thread); 0 picks a free port, null: no gRPC endpoint. Default 8001 (Triton's gRPC port), or 0
   * when `port` is 0 (a server asked for any free HTTP port takes any free gRPC port too, so that several can
   * run side by side).
   */
  grpcPort?: number | null;
  /**
   * Largest request body in bytes; larger gets 413 (before the body is read when Content-Length says so).
   * Default 32 MiB: a JSON request of 8 ImageNet images at full float precision is about 25 MB (with
   * `maxJsonBodyBytes` raised to take it), a binary one 4.8 MB; Triton's 64 MiB would let a client make the
   * server read twice that per request. JSON is held to the smaller `maxJsonBodyBytes`.
   */
  maxBodyBytes?: number;
  /** When set, every route but `/v2/health/*` needs `Authorization: Bearer <token>` (else 401). */
  authToken?: string | null;
  /**
   * How long `close()` (and SIGTERM in the CLI) waits for in-flight requests and for the connections to close
   * after their last response; a tenth of it (at most 1 s) is an idle keep-alive connection's grace for one
   * more request. Past it the connections left are cut. Default 30000 ms.
   */
  shutdownTimeoutMs?: number;
  /** Default `info`; `silent` for none. Logs are JSON lines on stdout (pino). */
  logLevel?: LogLevel;
  /**
   * CPU compute threads (`setNumThreads`); default all the process may use. CPU models split them between
   * their instances (see {@link BatchingOptions.instanceCount}).
   */
  threads?: number;
  /** `name` of server metadata. Default `resnet-cudnn`. */
  serverName?: string;
  /**
   * Accept Triton's system shared-memory extension (Triton's `--allow-client-shm`): clients on this host
   * register POSIX shared-memory regions (`v2/systemsharedmemory`) and pass tensors through them. Any
   * local client that can reach the port may then make the server read and write the shared-memory
   * objects its user can open. Default false: the endpoints and requests that name a region get a 400.
   */
  allowShm?: boolean;
  /** Shared-memory regions registered at once. Default 256. */
  maxShmRegions?: number;
  /** Bytes of shared memory mapped at once, over every region. Default 8 GiB. */
  maxShmBytes?: number;
  /**
   * Threads that take HTTP requests (node:worker_threads, one listening socket each on the same port with
   * SO_REUSEPORT): each reads and parses bodies and encodes responses for its own connections, and hands the
   * tensors to the main thread's batchers as views, not copies. With 1 the main thread listens itself.
   * Default 1 when every model runs on the CPU (the cores compute there), else min(4, max(1, CPUs − 1)).
   */
  httpThreads?: number;
  /**
   * Bytes of memory request bodies are read into that is registered with the engine (pinned on a GPU: the
   * GPU reads a tensor straight from the body), split between the HTTP threads; bodies beyond it go to
   * unregistered memory, which the engine copies once. 0: none. Default 256 MiB, or an eighth of the
   * machine's memory where that is less; at most half of it.
   */
  bodyArenaBytes?: number;
  /**
   * Seeds the random initialisation of the models served without weights: each starts from
   * `new Generator(seed)`, as `getModel(arch, { generator: new Generator(seed) })` does, so servers (and
   * library code) with the same seed compute the same outputs. Default none: a seed from the operating
   * system, different each start.
   */
  seed?: number | null;
  /**
   * Largest JSON request body in bytes: a body without `Inference-Header-Content-Length` (all JSON), or the
   * JSON header of one with it; larger gets 413 (before the body is read when Content-Length or
   * Inference-Header-Content-Length says so). The smaller of this and `maxBodyBytes` applies. Default 4 MiB: one
   * FP32 224×224 image as JSON (about 3 MB), or base64 photos. With {@link ServerOptions.maxJsonValues} it bounds
   * how long parsing JSON holds the thread's event loop (health probes and every other request on it wait).
   */
  maxJsonBodyBytes?: number;
  /**
   * Largest JSON request, counted in values from its separators before anything parses it: a number or string
   * counts 1, an array or object 8, an object key 64 (what each costs to parse, about). More gets 413. Parsing
   * costs per value, not per byte: 4 MiB of base64 images parses in about 2 ms, 4 MiB of `[0,0,…]` in 120 ms,
   * an object of 130,000 keys in 150 ms. Default 1,048,576: one FP32 224×224 image counts 150,528; at the
   * defaults the costliest JSON measured took about 100 ms (`npm run bench:json`, 2-core AMD EPYC VM).
   */
  maxJsonValues?: number;
  /**
   * Connections accepted at once; past it a new connection is closed as soon as it is accepted (no response),
   * rather than let the process run out of file descriptors. Split evenly between the HTTP threads (each takes
   * ⌊maxConnections / httpThreads⌋, at least 1). Default: the process's open-file limit (`ulimit -n`) less 128
   * for the server's own files, at most 10,000; 1,000 where the limit cannot be read.
   */
  maxConnections?: number;
  /**
   * How long a new connection may stay open without sending a byte before it is closed (Node itself never
   * closes one), and how long a request's head (request line and headers) may take to arrive from its first
   * byte (at most the 60 s a whole request may take), past which it gets 408 and its connection closes (Node's
   * `headersTimeout`). Default 10000 ms.
   */
  idleConnectionTimeoutMs?: number;
  /**
   * How long a keep-alive connection may stay open between requests: the server advertises it
   * (`Keep-Alive: timeout=`, in whole seconds) and closes the connection up to 1 s later (Node's margin, so
   * that the client closes first). Default 5000 ms, Node's; behind a load balancer that keeps idle
   * connections open longer (AWS ALB: 60 s), set it above the balancer's idle timeout.
   */
  keepAliveTimeoutMs?: number;
}

/** The defaults the options above document, in one place. */
export const serverDefaults = Object.freeze({
  host: '0.0.0.0',
  port: 8000,
  grpcPort: 8001,
  maxBodyBytes: 32 * 1024 * 1024,
  shutdownTimeoutMs: 30_000,
  logLevel: 'info' as LogLevel,
  serverName: 'resnet-cudnn',
  allowShm: false,
  maxShmRegions: 256,
  maxShmBytes: 8 * 1024 ** 3,
  version: '1',
  inputDatatype: 'FP32' as ImageDatatype,
  maxBatchSize: 8,
  maxQueueDelayMicroseconds: 0,
  maxQueueSize: 64,
  /** CPU instances when the server has 2 or more compute threads (else 1). */
  cpuInstanceCount: 2,
  gpuInstanceCount: 4,
  defaultTimeoutMicroseconds: 0,
  maxJsonBodyBytes: 4 * 1024 * 1024,
  maxJsonValues: 1024 * 1024,
  idleConnectionTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5000,
});

/** Names of the tensors every served ResNet has. */
export const tensorNames = Object.freeze({
  /**
   * FP32 or FP16 `[-1, 3, H, W]` (or `[-1, H, W, 3]`), normalised as the weights expect; UINT8 pixels in
   * either layout, normalised by the engine; or BYTES `[-1]` encoded images.
   */
  input: 'input',
  /** FP32 `[-1, numClasses]`: the logits (`fc`'s output). */
  output: 'output',
  /** FP32 `[-1, D]`: the pooled features before `fc` (2048 for resnet50, 512 for resnet18, 64 for CIFAR). */
  features: 'features',
});

// ---------------------------------------------------------------- options after validation and defaults

/** Batching options with every default applied; `instanceCount` null: decided by the resolved device. */
export interface ResolvedBatchingOptions {
  maxBatchSize: number;
  preferredBatchSizes: readonly number[];
  maxQueueDelayMicroseconds: number;
  maxQueueSize: number;
  instanceCount: number | null;
  defaultTimeoutMicroseconds: number;
}

/** A {@link ModelOptions} validated, with defaults applied (what `resolveServerOptions` returns). */
export interface ResolvedModelOptions {
  name: string;
  version: string;
  arch: string;
  weights: string | null;
  device: DeviceSpec;
  dtype: ComputeDType;
  benchmark: boolean;
  /** null: the default of the weights / architecture, decided when the model loads. */
  inputSize: number | null;
  inputDatatype: ImageDatatype;
  inputLayout: TensorLayout;
  imageDecoder: 'auto' | 'cpu';
  batching: ResolvedBatchingOptions;
}

/** {@link ServerOptions} validated, with defaults applied. */
export interface ResolvedServerOptions {
  models: ResolvedModelOptions[];
  host: string;
  port: number;
  /** null: no gRPC endpoint. */
  grpcPort: number | null;
  maxBodyBytes: number;
  authToken: string | null;
  shutdownTimeoutMs: number;
  logLevel: LogLevel;
  threads: number | null;
  serverName: string;
  allowShm: boolean;
  maxShmRegions: number;
  maxShmBytes: number;
  /** null: decided when the server starts, from the devices its models resolve to. */
  httpThreads: number | null;
  bodyArenaBytes: number;
  /** null: unseeded. */
  seed: number | null;
  maxJsonBodyBytes: number;
  maxJsonValues: number;
  /** null: decided when the server starts, from the process's open-file limit. */
  maxConnections: number | null;
  idleConnectionTimeoutMs: number;
  keepAliveTimeoutMs: number;
}
