/**
 * How a `resnet` command ends when something goes wrong: the exit code, and the one report of the error.
 *
 * - Exit 2: the command line is wrong (an unknown option or command, a missing argument, a value an
 *   option does not take), found by commander while parsing or by the command's own checks before any
 *   work ({@link UsageError}).
 * - Exit 1: the command could not do its work (a file missing or unreadable, a download that failed, a
 *   model that does not load, a server that could not start).
 * - The report: `resnet: <message> [<code>]` on stderr (commander prints its own parse errors there, with
 *   the command's help). With `--json`, stdout carries `{"error":{"code":"…","message":"…"}}` and nothing
 *   else, the code being the library's (`ERR_INVALID_FILE`, `ERR_DOWNLOAD` …), or `ERR_USAGE` for what
 *   commander refused.
 * @module
 */
import { CommanderError } from 'commander';
import { InvalidArgumentError, ResnetError } from '../errors.js';

/** A value the command line gave that the command's own checks refuse (exit 2, as commander's refusals). */
export class UsageError extends InvalidArgumentError {}

/** An error already shown to the user (in the server's log): exit 1 without saying it again. */
export class ReportedError extends Error {
  constructor(readonly error: unknown) {
    super(error instanceof Error ? error.message : String(error), { cause: error });
  }
}

/** The exit code of a command line that is wrong. */
export const usageExitCode = 2;

/**
 * Runs `check`; an InvalidArgumentError it throws becomes a {@link UsageError} (the same message), for
 * checks of the command line made by functions the library API shares.
 */
export async function asUsage<T>(check: () => T | Promise<T>): Promise<T> {
  try {
    return await check();
  } catch (error) {
    if (error instanceof InvalidArgumentError && !(error instanceof UsageError)) throw new UsageError(error.message, { cause: error });
    throw error;
  }
}

/** Where the report goes; the process's streams unless a test gives others. */
export interface Output {
  stdout(text: string): void;
  stderr(text: string): void;
}

const processOutput: Output = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/** The code and message of `error` as the JSON report gives them. */
function described(error: unknown): { code: string; message: string } {
  if (error instanceof ReportedError) return described(error.error);
  if (error instanceof CommanderError) return { code: 'ERR_USAGE', message: error.message.replace(/^error: /, '') };
  if (error instanceof ResnetError) return { code: error.code, message: error.message };
  const e = error as { code?: unknown; message?: unknown };
  return { code: typeof e?.code === 'string' ? e.code : 'ERR_INTERNAL', message: typeof e?.message === 'string' ? e.message : String(error) };
}

/**
 * Reports `error` (once) and returns the exit code: 0 for commander's help and version, 2 for a wrong
 * command line, 1 for the rest.
 */
export function reportError(error: unknown, json: boolean, output: Output = processOutput): number {
  if (error instanceof CommanderError && error.exitCode === 0) return 0;
  if (json) output.stdout(`${JSON.stringify({ error: described(error) })}\n`);
  // Commander printed its refusal, with the help; the server logged why it did not start.
  if (!(error instanceof CommanderError) && !(error instanceof ReportedError)) {
    if (error instanceof ResnetError) output.stderr(`resnet: ${error.message} [${error.code}]\n`);
    else output.stderr(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  }
  return error instanceof CommanderError || error instanceof UsageError ? usageExitCode : 1;
}
