/**
 * Running the built `resnet` command in a child process, for the CLI tests: the path of `dist/cli/main.js`,
 * whether it is built, and a runner that resolves to the exit code and output instead of throwing.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** The built CLI. */
export const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** Whether `npm run build:ts` has produced it. */
export const cliBuilt = existsSync(cli);

const run = promisify(execFile);

/** Runs `resnet ...args` (up to 4 minutes) and resolves to its output and exit code, whatever the code. */
export async function resnet(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], { timeout: 240_000 });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const e = error as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}
