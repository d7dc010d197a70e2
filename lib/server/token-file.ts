/**
 * The bearer token read from a file (`--auth-token-file`, a config file's `authTokenFile`): how a token
 * reaches the server without showing in `ps`, as a Kubernetes Secret mounted as a file or a Docker secret.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { cannotRead, openOptionFile } from './option-file.js';
import { serverFieldChecks } from './resolve-options.js';

/** Far beyond a token (4096 characters at most); bounds what a wrong path (a disk image, /dev/zero) makes us read. */
export const maxTokenFileBytes = 64 * 1024;

/**
 * At most `maxTokenFileBytes` + 1 bytes of `path`, read to its end: a regular file, or a pipe such as bash's
 * `<(…)`, whose size is unknown until it ends.
 */
async function readHead(path: string, label: string): Promise<Buffer> {
  const file = await openOptionFile(path, label);
  try {
    const buffer = Buffer.alloc(maxTokenFileBytes + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await file.read(buffer, length, buffer.length - length, null);
      length += bytesRead;
      if (bytesRead === 0 || length === buffer.length) return buffer.subarray(0, length);
    }
  } catch (error) {
    throw cannotRead(label, error);
  } finally {
    await file.close();
  }
}

/**
 * Reads the token `path` holds: UTF-8, one trailing line break (`\n` or `\r\n`, as `echo` and editors
 * leave) dropped, then checked as `authToken` is. Neither the token nor the file's text is ever put into a
 * message: only its length.
 * @param label - what the file is, for messages (`--auth-token-file "token.txt"`).
 * @throws InvalidArgumentError when the file cannot be read, is over 64 KiB, is empty, is not UTF-8, or
 *   holds something other than one token of 1 to 4096 visible ASCII characters.
 */
export async function readTokenFile(path: string, label: string): Promise<string> {
  if (typeof path !== 'string' || path === '') throw new InvalidArgumentError(`Expected a file path for ${label} but received ${JSON.stringify(path)}`);
  const bytes = await readHead(path, label);
  if (bytes.length > maxTokenFileBytes) {
    throw new InvalidArgumentError(`${label} is over ${maxTokenFileBytes} bytes, far more than a token: is it the right file?`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (error) {
    throw new InvalidArgumentError(`${label} is not UTF-8 text: it should hold the token alone`, { cause: error });
  }
  const token = text.replace(/\r?\n$/, '');
  if (token === '') throw new InvalidArgumentError(`${label} is empty: write the token into it (one line)`);
  return serverFieldChecks.authToken(token, label);
}
