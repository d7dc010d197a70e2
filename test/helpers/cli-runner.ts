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

const execute = promisify(execFile);

/** How {@link resnetWith} runs the command: its environment (added to this process's) and node's own flags. */
export interface CliRun {
  env?: NodeJS.ProcessEnv;
  nodeArgs?: string[];
}

/** Runs `resnet ...args` (up to 4 minutes) and resolves to its output and exit code, whatever the code. */
export async function resnet(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return resnetWith({}, ...args);
}

/** {@link resnet} with extra environment variables and node flags. */
export async function resnetWith(run: CliRun, ...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await execute(process.execPath, [...(run.nodeArgs ?? []), cli, ...args], {
      timeout: 240_000, env: { ...process.env, ...run.env },
    });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const e = error as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

/** Node flags that make `packages` impossible to import in the child (test/fixtures/hide-packages.mjs). */
export function hidingPackages(packages: readonly string[]): CliRun {
  return {
    nodeArgs: ['--import', fileURLToPath(new URL('../fixtures/hide-packages.mjs', import.meta.url))],
    env: { RESNET_TEST_HIDDEN_PACKAGES: packages.join(',') },
  };
}
