// Calls to the wagate API with the signed-in key. Every failure becomes an ApiError carrying the
// code and message of the API's envelope {success: false, error: {code, message}}, so views can
// show the server's own words.
import { token } from './session.js';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let unauthorized = () => {};

/** What to do when the key stops working (revoked, expired): the app signs out. */
export function onUnauthorized(fn) {
  unauthorized = fn;
}

/**
 * api('/v1/instances') → the whole JSON body. Most answers are {success, data}, but some (connect,
 * send) are flat, so callers pick what they need.
 */
export async function api(path, { method = 'GET', body, key = token() } = {}) {
  const headers = { Accept: 'application/json', Authorization: `Bearer ${key}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'network_error', 'The server cannot be reached.');
  }
  const json = await res.json().catch(() => null);
  if (!res.ok || json?.success === false) {
    const error = new ApiError(
      res.status,
      json?.error?.code ?? 'http_error',
      json?.error?.message ?? `The server answered ${res.status}.`,
    );
    // Only when signed in: a wrong key typed at sign-in is an ordinary error.
    if (res.status === 401 && key === token()) unauthorized(error);
    throw error;
  }
  return json;
}

/** Path segments and query values, escaped. */
export const enc = encodeURIComponent;
