/**
 * `resnet serve`: runs `createServer` until SIGTERM or SIGINT. Before anything listens, the options are
 * resolved and every model's weights checked (serve-check.ts): a wrong command line exits 2, a model that
 * cannot load exits 1, each with its message once on stderr and no server log. The server module (and
 * with it fastify, prom-client and the gRPC packages) is imported only then, so the other commands never load it, and a
 * missing one is named with the npm command that installs it. The server logs where it listens and when
 * it is ready (JSON lines on stdout). A signal turns it not-ready, stops it accepting connections, lets
 * in-flight requests finish and closes each connection after its last response (server.ts): exit 0 when
 * all that is done within `shutdownTimeoutMs`, exit 1 past that deadline or on a second signal. A failure
 * after listening (compiling a model) is in the server's log, and exits 1. `--auth-token` is warned about
 * on stderr: `ps` shows it.
 * @module
 */
import v8 from 'node:v8';
import type { Command } from 'commander';
import { readConfigFile, resolveServerOptions } from '../server/options.js';
import type { InferenceServer } from '../server/server.js';
import type { LogLevel, ResolvedServerOptions, ServerOptions } from '../server/types.js';
import { importWithPackages, nativeImport, type Importer } from './missing-package.js';
import { serverPackagesFor } from '../server/optional-peers.js';
import { ReportedError, asUsage } from './outcome.js';
import { checkModelsLoad } from './serve-check.js';
import { commandLineTokenWarning, serveFlags, serveOptions, tokenFromFileFlag, type ServeFlags } from './serve-options.js';

/**
 * The server module, its packages imported first so that a missing one is named.
 * @throws MissingDependencyError `resnet serve needs fastify, prom-client, @grpc/grpc-js and @grpc/proto-loader, and … is not
 * installed: npm i fastify prom-client @grpc/grpc-js @grpc/proto-loader`.
 */
export async function loadServerModule(
  importer: Importer = nativeImport, grpc = true,
): Promise<typeof import('../server/server.js')> {
  // With `--grpc-port off` the gRPC packages are never loaded, so they need not be installed.
  return importWithPackages('resnet serve', serverPackagesFor(grpc), () => import('../server/server.js'), importer);
}

/**
 * The options the flags and the config file make, resolved (every value checked). Without a config file
 * everything came from the command line, so a refusal is a usage error (exit 2).
 */
async function resolvedOptions(flags: ServeFlags): Promise<{ options: ServerOptions; resolved: ResolvedServerOptions }> {
  const fileToken = await tokenFromFileFlag(flags);
  if (flags.config !== undefined) {
    const options = serveOptions(await readConfigFile(flags.config), flags, process.env, fileToken);
    return { options, resolved: resolveServerOptions(options) };
  }
  return asUsage(() => {
    const options = serveOptions(undefined, flags, process.env, fileToken);
    return { options, resolved: resolveServerOptions(options) };
  });
}

/** Whether the server's log shows an error (pino's level 50) at `level`. */
function logsErrors(level: LogLevel): boolean {
  return level !== 'fatal' && level !== 'silent';
}

/**
 * V8's heap growing factor for the server process, as `--heap-growing-percent` (4x: V8's own largest
 * factor, which it otherwise gives only large heaps), unless node was started with the flag.
 *
 * Why: V8 counts the external memory allocated since the last full collection (ArrayBuffers: Node copies
 * each request body chunk into a new Buffer, 600 KB per 224x224 FP32 image) against the old generation's
 * limit, and the server's small heap (about 15 MB) keeps that limit low. Measured with resnet18 at
 * concurrency 32 on 2 cores, for 15 s: 73 mark-compacts with V8's default factor, 7 with this one. V8's
 * marking threads then took 0.04 instead of 0.13 cores, the compute threads 1.74 instead of 1.63, and
 * throughput rose from 123 to 131 img/s. V8 reads the factor whenever it recomputes its limits, so
 * setting it at run time takes effect from the next collection.
 */
export const serverHeapGrowingPercent = 300;

function tuneGarbageCollection(): void {
  if (process.execArgv.some((flag) => /^--heap[-_]growing[-_]percent\b/.test(flag))) return;
  v8.setFlagsFromString(`--heap-growing-percent=${serverHeapGrowingPercent}`);
}

/**
 * Exits when `server` has closed after the first SIGTERM/SIGINT (0), or at once on a second one (1),
 * or when closing outlasts `shutdownTimeoutMs` (1).
 * @returns whether a signal has arrived (start() failing then is the shutdown, not an error).
 */
function exitOnSignals(server: InferenceServer, shutdownTimeoutMs: number): () => boolean {
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    const log = server.app.log;
    if (signalled) {
      log.warn({ signal }, 'second signal: exiting without waiting for in-flight requests');
      process.exit(1);
    }
    signalled = true;
    log.info({ signal, shutdownTimeoutMs }, 'shutting down: not ready, finishing in-flight requests');
    // Armed before close() so that at the same instant it fires first: past its own deadline close()
    // abandons what is still in flight and resolves, which must not read as a clean shutdown.
    setTimeout(() => {
      log.error({ shutdownTimeoutMs }, 'shutdown deadline passed: exiting');
      process.exit(1);
    }, shutdownTimeoutMs);
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return () => signalled;
}

/**
 * Runs the server the flags (and config file) describe; resolves once it is ready and keeps the
 * process alive while it listens.
 * @throws UsageError for a wrong command line, InvalidArgumentError for a wrong config file, whatever
 *   loading a model threw (all before anything listens); UnsupportedError when fastify or prom-client is
 *   not installed; ReportedError when the server failed after listening and logged why.
 */
export async function runServe(flags: ServeFlags, importer: Importer = nativeImport): Promise<void> {
  const { options, resolved } = await resolvedOptions(flags);
  const tokenWarning = commandLineTokenWarning(flags);
  if (tokenWarning !== null) process.stderr.write(`${tokenWarning}\n`);
  await checkModelsLoad(resolved.models);
  // Loaded here, not by main.ts: the server's packages cost a few hundred ms that other commands skip,
  // and they are optional: a missing one is named before anything starts.
  const { createServer } = await loadServerModule(importer, resolved.grpcPort !== null);
  tuneGarbageCollection();
  const server = createServer(options);
  const signalled = exitOnSignals(server, resolved.shutdownTimeoutMs);
  try {
    await server.start();
    // One plain line whatever the log level, for people and scripts (the logs are JSON on stdout). The image
    // decoder is named as `resnet info` names it.
    const models = [...server.models.values()].map((m) => `${m.signature.name} (${m.device}, images: ${m.imageDecoder.name})`).join(', ');
    process.stderr.write(`resnet serve: ready on ${server.address?.url ?? '(not listening)'}: ${models}\n`);
  } catch (error) {
    // A signal during loading closes the server and so fails start(); the signal handler exits.
    if (signalled()) return;
    // start() closed the server; should a native worker still hold the event loop, do not hang on it.
    setTimeout(() => process.exit(1), 2000).unref();
    // The server logged why ("server failed to start"): said once, unless its log level hides errors.
    throw logsErrors(resolved.logLevel) ? new ReportedError(error) : error;
  }
}

/** Defines `resnet serve` on `command` (from `program.command('serve')`). */
export function defineServeCommand(command: Command): Command {
  return serveFlags(command).action((flags: ServeFlags) => runServe(flags));
}
