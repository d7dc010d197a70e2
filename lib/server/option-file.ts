/**
 * Files that the server's options name (the config file, a token file), opened and refused in the same words.
 * @module
 */
import { open, type FileHandle } from 'node:fs/promises';
import { InvalidArgumentError } from '../errors.js';

/** `error` (an open or read that failed) as the refusal `Cannot read {label}: {reason}`. */
export function cannotRead(label: string, error: unknown): InvalidArgumentError {
  return new InvalidArgumentError(`Cannot read ${label}: ${(error as Error).message}`, { cause: error });
}

/**
 * Opens `path` for reading.
 * @param label - what the file is, for messages (`config file "serve.json"`).
 * @throws InvalidArgumentError `Cannot read {label}: ENOENT: …` when it cannot be opened.
 */
export async function openOptionFile(path: string, label: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (error) {
    throw cannotRead(label, error);
  }
}
