/**
 * The package version, read from package.json at load time (one source of truth).
 * @module
 */
import { readFileSync } from 'node:fs';

/** This package's version. */
export const version: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
