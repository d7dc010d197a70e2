/**
 * The server's options as users meet them: {@link resolveServerOptions} (validation and defaults, what
 * `createServer` runs), {@link parseModelSpec} (the CLI's `--model ARCH[=WEIGHTS]`) and
 * {@link readConfigFile} (the JSON config file).
 * @module
 */
export { logLevels, parseModelSpec, resolveServerOptions } from './resolve-options.js';
export { readConfigFile } from './config-file.js';
