#!/usr/bin/env node
/**
 * The `resnet` command's entry point. It imports the program (commander, the library, the subcommands)
 * dynamically, so that a package missing from the installation is named with the npm command that
 * installs it, instead of Node's `ERR_MODULE_NOT_FOUND` and a stack. The server and its packages are
 * imported later still, by `resnet serve` alone (serve.ts).
 * @module
 */
import { missingPackageError, missingPackageOf } from '../missing-package.js';

try {
  const { main } = await import('./program.js');
  const code = await main(process.argv);
  if (code !== 0) process.exitCode = code;
} catch (error) {
  const missing = missingPackageOf(error);
  if (missing === null) throw error;
  process.stderr.write(`resnet: ${missingPackageError('the resnet command', [missing], missing).message}\n`);
  process.exitCode = 1;
}
