// TC3-HMAC-SHA256, the API 3.0 signature, computed as the official SDKs compute it
// (reference §2.4): canonical request -> string to sign -> key chain -> signature.

import { sha256 as sha256Js, hmacSha256 as hmacJs } from './sha256.js';

const utf8 = new TextEncoder();

/** Lower-case hex of a Uint8Array. */
export const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/** WebCrypto's hashes: fast and native, but present only in secure contexts. */
export function webCryptoHashes(subtle) {
  return {
    name: 'webcrypto',
    async sha256(bytes) {
      return new Uint8Array(await subtle.digest('SHA-256', bytes));
    },
    async hmac(key, message) {
      const k = await subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
      return new Uint8Array(await subtle.sign('HMAC', k, message));
    },
  };
}

/** The pure-JS fallback (sha256.js), for plain http on a host other than localhost. */
export const jsHashes = {
  name: 'javascript',
  async sha256(bytes) {
    return sha256Js(bytes);
  },
  async hmac(key, message) {
    return hmacJs(key, message);
  },
};

/** WebCrypto when this context has it, the fallback otherwise. */
export function defaultHashes() {
  const subtle = globalThis.crypto && globalThis.crypto.subtle;
  return subtle ? webCryptoHashes(subtle) : jsHashes;
}

/**
 * Signs one request. Returns the Authorization header and every intermediate value (the
 * tests compare them with the reference's vectors).
 *
 * `host` is the Host header the request will carry (in a browser: `location.host`);
 * `payload` the exact body text (POST) or "" (GET); `query` the exact query string (GET).
 */
export async function signTc3({
  secretId,
  secretKey,
  service,
  host,
  timestamp,
  payload = '',
  contentType = 'application/json',
  method = 'POST',
  query = '',
  hashes = defaultHashes(),
}) {
  const date = new Date(timestamp * 1000).toISOString().slice(0, 10);
  const payloadHash = hex(await hashes.sha256(utf8.encode(payload)));
  const canonicalRequest = [
    method,
    '/',
    query,
    `content-type:${contentType.toLowerCase()}`,
    `host:${host.toLowerCase()}`,
    '',
    'content-type;host',
    payloadHash,
  ].join('\n');
  const scope = `${date}/${service}/tc3_request`;
  const canonicalHash = hex(await hashes.sha256(utf8.encode(canonicalRequest)));
  const stringToSign = `TC3-HMAC-SHA256\n${timestamp}\n${scope}\n${canonicalHash}`;
  const kDate = await hashes.hmac(utf8.encode(`TC3${secretKey}`), utf8.encode(date));
  const kService = await hashes.hmac(kDate, utf8.encode(service));
  const kSigning = await hashes.hmac(kService, utf8.encode('tc3_request'));
  const signature = hex(await hashes.hmac(kSigning, utf8.encode(stringToSign)));
  return {
    date,
    payloadHash,
    canonicalRequest,
    canonicalHash,
    stringToSign,
    kDate: hex(kDate),
    kService: hex(kService),
    kSigning: hex(kSigning),
    signature,
    authorization:
      `TC3-HMAC-SHA256 Credential=${secretId}/${scope}, ` +
      `SignedHeaders=content-type;host, Signature=${signature}`,
  };
}
