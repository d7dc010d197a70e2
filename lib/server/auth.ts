/**
 * Bearer-token authentication: `Authorization: Bearer <token>` compared in constant time.
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { HttpError } from './http-error.js';

/** Paths that answer without a token: orchestrators probe them without credentials. */
export function isPublicPath(url: string): boolean {
  return url.startsWith('/v2/health/');
}

/**
 * A check of the `Authorization` header against `token`. Both sides are hashed first so that the
 * comparison takes the same time whatever the length or content of what the client sent.
 */
export function bearerTokenCheck(token: string): (authorization: string | undefined) => boolean {
  const expected = createHash('sha256').update(token).digest();
  return (authorization) => {
    const match = /^Bearer (.+)$/i.exec(authorization ?? '');
    const presented = createHash('sha256').update(match?.[1] ?? '').digest();
    // Evaluate the comparison even without a match, so a malformed header costs the same time.
    const equal = timingSafeEqual(presented, expected);
    return match !== null && equal;
  };
}

/** 401 with the challenge RFC 6750 asks for. */
export function unauthorized(): HttpError {
  return new HttpError(401, 'missing or invalid bearer token (Authorization: Bearer <token>)', {
    headers: { 'www-authenticate': 'Bearer' },
  });
}
