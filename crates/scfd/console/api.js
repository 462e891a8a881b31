// The SCF API as the console calls it: POST / on this origin, signed here with the account's
// key (the key itself is never sent), answered in Tencent's envelope.

import { signTc3 } from './tc3.js';

export const SERVICE = 'scf';
export const VERSION = '2018-04-16';

/** An error the API answered (`Response.Error`), or a transport failure. */
export class ApiError extends Error {
  constructor(code, message, requestId = '') {
    super(message);
    this.code = code;
    this.requestId = requestId;
  }

  toString() {
    return `${this.code}: ${this.message}`;
  }
}

/**
 * Calls one action as the given account. Resolves to `Response` without its envelope;
 * rejects with an ApiError carrying the server's Code and Message.
 */
export async function call(credentials, action, params = {}) {
  const { secretId, secretKey, region } = credentials;
  const body = JSON.stringify(params);
  const timestamp = Math.floor(Date.now() / 1000);
  const { authorization } = await signTc3({
    secretId,
    secretKey,
    service: SERVICE,
    // The Host header the browser will send; the signature covers it.
    host: location.host,
    timestamp,
    payload: body,
  });
  let res;
  try {
    res = await fetch('/', {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'X-TC-Action': action,
        'X-TC-Version': VERSION,
        'X-TC-Timestamp': String(timestamp),
        'X-TC-Region': region,
        'X-TC-RequestClient': 'scfd-console',
        Authorization: authorization,
      },
      body,
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch (e) {
    throw new ApiError('NetworkError', `scfd did not answer (${e.message})`);
  }
  let json;
  try {
    json = await res.json();
  } catch {
    throw new ApiError('HttpError', `HTTP ${res.status} ${res.statusText}`.trim());
  }
  const response = json && json.Response;
  if (!response) throw new ApiError('HttpError', `HTTP ${res.status}: no Response in the answer`);
  if (response.Error) {
    throw new ApiError(response.Error.Code, response.Error.Message, response.RequestId);
  }
  return response;
}
