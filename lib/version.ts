/**
 * The package version, read from package.json at load time (one source of truth).
 * @module
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRootOf } from './runtime/package-root.js';

/** This package's version. */
export const version: string = (
  JSON.parse(readFileSync(path.join(packageRootOf(import.meta.url), 'package.json'), 'utf8')) as { version: string }
).version;
