// The console's signer (crates/scfd/console/tc3.js) against the reference's TC3 test vectors
// (scf-api.md §2.4), with WebCrypto and with the pure-JS fallback (sha256.js), and the
// fallback's SHA-256/HMAC against node:crypto on many lengths.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { signTc3, webCryptoHashes, jsHashes, hex } from '../../crates/scfd/console/tc3.js';
import { sha256, hmacSha256 } from '../../crates/scfd/console/sha256.js';

const implementations = [
  ['webcrypto', webCryptoHashes(globalThis.crypto.subtle)],
  ['javascript fallback', jsHashes],
];

// Vector A: this SDK, reproduced independently (reference §2.4).
const A = {
  secretId: 'AKIDtest',
  secretKey: 'test',
  service: 'scf',
  host: '127.0.0.1:9000',
  timestamp: 1700000000,
  payload:
    '{"FunctionName": "hello", "FunctionRequestId": "a63607c3-581f-4be9-8c4b-631c75909f07", "Namespace": "default"}',
};

for (const [name, hashes] of implementations) {
  test(`vector A (POST) with ${name}`, async () => {
    const s = await signTc3({ ...A, hashes });
    assert.equal(
      s.canonicalRequest,
      'POST\n/\n\ncontent-type:application/json\nhost:127.0.0.1:9000\n\ncontent-type;host\n' +
        'e792bd905d15535d5c31ca26375f57524fabb931711ec1e9b642a2f37196ceb4',
    );
    assert.equal(
      s.stringToSign,
      'TC3-HMAC-SHA256\n1700000000\n2023-11-14/scf/tc3_request\n' +
        'd00a0bfc9f6518b9f80a88cee057e8cedd82f3207ecf132f826f32297f4aff48',
    );
    assert.equal(s.kDate, '3abd1fc7398aed48bb968bf43a2eb222c6ca3b7c882b3d398625addf3aa0c980');
    assert.equal(s.kService, '45f71a3681875fa9df3336c8f8178a3dc57667bd03ab049daecbe565679f87fb');
    assert.equal(s.kSigning, '0c950130ce2178b211f7f52711bbbf42fa5b7e0dea0596bcd230598500f77eb6');
    assert.equal(s.signature, 'a55ccbbcea04c6b713d5fb37e6c9a5e9273c6e5ad36f71b6f2376a97fd1c04df');
    assert.equal(
      s.authorization,
      'TC3-HMAC-SHA256 Credential=AKIDtest/2023-11-14/scf/tc3_request, SignedHeaders=content-type;host, ' +
        'Signature=a55ccbbcea04c6b713d5fb37e6c9a5e9273c6e5ad36f71b6f2376a97fd1c04df',
    );
  });

  test(`vector A (GET) with ${name}`, async () => {
    const s = await signTc3({
      ...A,
      payload: '',
      method: 'GET',
      contentType: 'application/x-www-form-urlencoded',
      query: 'FunctionName=hello&FunctionRequestId=a63607c3-581f-4be9-8c4b-631c75909f07&Namespace=default',
      hashes,
    });
    assert.equal(s.payloadHash, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.equal(s.signature, '002ccf8dc6f297f22089f75afd5ffd56b406823329bc9530131ce2861a3c657d');
  });

  test(`vector B (official doc, service cvm) with ${name}`, async () => {
    const s = await signTc3({
      secretId: 'AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE',
      secretKey: 'Gu5t9xGARNpq86cd98joQYCN3EXAMPLE',
      service: 'cvm',
      host: 'cvm.tencentcloudapi.com',
      timestamp: 1551113065,
      contentType: 'application/json; charset=utf-8',
      payload: '{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}',
      hashes,
    });
    assert.equal(s.date, '2019-02-25');
    assert.equal(s.payloadHash, '35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064');
    assert.equal(s.canonicalHash, '5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031');
    assert.equal(s.signature, '72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168');
  });
}

test('fallback SHA-256 and HMAC match node:crypto on every length around the block edges', () => {
  const lengths = [...Array(200).keys(), 447, 448, 511, 512, 1000, 4096, 65537];
  for (const n of lengths) {
    const data = randomBytes(n);
    assert.equal(hex(sha256(data)), createHash('sha256').update(data).digest('hex'), `sha256 of ${n} bytes`);
    // Keys shorter than, equal to and longer than the 64-byte block.
    const key = randomBytes([0, 1, 32, 64, 65, 200][n % 6]);
    assert.equal(
      hex(hmacSha256(key, data)),
      createHmac('sha256', key).update(data).digest('hex'),
      `hmac of ${n} bytes, key of ${key.length}`,
    );
  }
});

test('fallback SHA-256 of known strings (FIPS 180-4 examples)', () => {
  const utf8 = new TextEncoder();
  assert.equal(hex(sha256(utf8.encode('abc'))), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.equal(
    hex(sha256(utf8.encode('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))),
    '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
  );
});
