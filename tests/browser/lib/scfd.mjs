// A real scfd process for the browser tests, and a small API client that signs with
// node:crypto (written apart from the console's signer, so a shared mistake cannot hide).

import { spawn } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync, existsSync, readFileSync, openSync, closeSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const REGION = 'ap-guangzhou';

export const ACCOUNT_A = { secretId: 'AKIDconsoleAccountA000000000000001', secretKey: 'consoleKeyA', appId: 1250000101, uin: '100000001011' };
export const ACCOUNT_B = { secretId: 'AKIDconsoleAccountB000000000000002', secretKey: 'consoleKeyB', appId: 1250000102, uin: '100000001022' };

/** Every action the reference documents a rate for, lifted (as tests/e2e/invoketest.py does). */
const UNLIMITED_RATES = ['GetRequestStatus', 'GetAsyncEventStatus', 'ListAsyncEvents', 'Invoke', 'InvokeFunction'];

export function scfdBin() {
  const bin = process.env.SCFD_BIN || join(ROOT, 'target', 'release', 'scfd');
  if (!existsSync(bin)) {
    throw new Error(`scfd binary not found at ${bin} (cargo build --release -p scfd --bins, or set SCFD_BIN)`);
  }
  return bin;
}

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

function config(accounts) {
  const lines = [`default_region = "${REGION}"`, ''];
  for (const a of accounts) {
    lines.push('[[accounts]]', `secret_id = "${a.secretId}"`, `secret_key = "${a.secretKey}"`, `app_id = ${a.appId}`, `uin = "${a.uin}"`, '');
  }
  lines.push('[rate_limits]', 'default = 0', ...UNLIMITED_RATES.map((a) => `${a} = 0`), '');
  return lines.join('\n');
}

/** Starts scfd on a free port with a fresh data dir; resolves once /healthz answers. */
export async function startScfd(accounts = [ACCOUNT_A, ACCOUNT_B]) {
  const dir = mkdtempSync(join(tmpdir(), 'scfd-console-'));
  const dataDir = join(dir, 'data');
  const configPath = join(dir, 'scfd.toml');
  writeFileSync(configPath, config(accounts));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const logPath = join(dir, 'scfd.log');
  const log = openSync(logPath, 'w');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SCFD_SECRET') && !k.startsWith('TENCENTCLOUD_')));
  const proc = spawn(scfdBin(), ['serve', '--listen', host, '--data-dir', dataDir, '--config', configPath], {
    stdio: ['ignore', log, log],
    env,
  });
  closeSync(log);
  let exited = null;
  proc.on('exit', (code, signal) => (exited = { code, signal }));
  const readLog = () => (existsSync(logPath) ? readFileSync(logPath, 'utf8').slice(-20000) : '');
  const server = {
    host,
    port,
    url: `http://${host}`,
    dir,
    log: readLog,
    async stop() {
      if (!exited) {
        proc.kill('SIGTERM');
        const killer = setTimeout(() => proc.kill('SIGKILL'), 10000);
        await new Promise((ok) => (exited ? ok() : proc.on('exit', ok)));
        clearTimeout(killer);
      }
      if (!process.env.KEEP_SCFD_DIR) rmSync(dir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`scfd exited (${JSON.stringify(exited)}) during start-up:\n${readLog()}`);
    try {
      const r = await fetch(`${server.url}/healthz`);
      if (r.ok) return server;
    } catch {
      // not listening yet
    }
    await new Promise((ok) => setTimeout(ok, 50));
  }
  await server.stop();
  throw new Error(`scfd did not answer /healthz within 15 s:\n${readLog()}`);
}

// ---- signed API calls (TC3-HMAC-SHA256, reference §2.4) ---------------------------------

const sha256hex = (s) => createHash('sha256').update(s, 'utf8').digest('hex');
const hmac = (key, s) => createHmac('sha256', key).update(s, 'utf8').digest();

export class ApiError extends Error {
  constructor(code, message) {
    super(`${code}: ${message}`);
    this.code = code;
  }
}

/** Calls `action` as `account`; returns Response, or throws ApiError. */
export async function call(server, account, action, params = {}) {
  const body = JSON.stringify(params);
  const timestamp = Math.floor(Date.now() / 1000);
  const date = new Date(timestamp * 1000).toISOString().slice(0, 10);
  const canonical = `POST\n/\n\ncontent-type:application/json\nhost:${server.host}\n\ncontent-type;host\n${sha256hex(body)}`;
  const scope = `${date}/scf/tc3_request`;
  const toSign = `TC3-HMAC-SHA256\n${timestamp}\n${scope}\n${sha256hex(canonical)}`;
  const kSigning = hmac(hmac(hmac(`TC3${account.secretKey}`, date), 'scf'), 'tc3_request');
  const signature = createHmac('sha256', kSigning).update(toSign, 'utf8').digest('hex');
  const res = await fetch(`${server.url}/`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'X-TC-Action': action,
      'X-TC-Version': '2018-04-16',
      'X-TC-Timestamp': String(timestamp),
      'X-TC-Region': REGION,
      Authorization: `TC3-HMAC-SHA256 Credential=${account.secretId}/${scope}, SignedHeaders=content-type;host, Signature=${signature}`,
    },
    body,
  });
  const json = await res.json();
  if (json.Response.Error) throw new ApiError(json.Response.Error.Code, json.Response.Error.Message);
  return json.Response;
}

// ---- functions --------------------------------------------------------------------------

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A zip of `files` (name -> text), stored without compression: all a package needs. */
export function makeZip(files) {
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const [name, text] of Object.entries(files)) {
    const nameBuf = Buffer.from(name, 'utf8');
    const data = Buffer.from(text, 'utf8');
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt32LE(0, 10); // time, date
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBuf.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(0x0314, 4); // made by unix, 2.0
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(0, 10);
    central.writeUInt32LE(0, 12);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBuf.length, 28);
    central.writeUInt32LE((0o100644 << 16) >>> 0, 38); // external attributes: a regular file
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBuf, data);
    centrals.push(central, nameBuf);
    offset += local.length + nameBuf.length + data.length;
  }
  const centralBuf = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(files).length, 8);
  end.writeUInt16LE(Object.keys(files).length, 10);
  end.writeUInt32LE(centralBuf.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, centralBuf, end]);
}

/** Creates a Python function from the text of index.py and waits until it is Active. */
export async function deployPython(server, account, name, code, { namespace = 'default', memory = 128 } = {}) {
  await call(server, account, 'CreateFunction', {
    FunctionName: name,
    Namespace: namespace,
    Runtime: 'Python3.9',
    Handler: 'index.main_handler',
    MemorySize: memory,
    Timeout: 10,
    Description: 'made by tests/browser',
    Environment: { Variables: [{ Key: 'GREETING', Value: 'hello' }] },
    Code: { ZipFile: makeZip({ 'index.py': code }).toString('base64') },
  });
  const deadline = Date.now() + 30000;
  for (;;) {
    const f = await call(server, account, 'GetFunction', { FunctionName: name, Namespace: namespace });
    if (f.Status === 'Active') return f;
    if (/Failed$/.test(f.Status) || Date.now() > deadline) throw new Error(`function ${name} is ${f.Status}: ${f.StatusDesc}`);
    await new Promise((ok) => setTimeout(ok, 100));
  }
}

/** Invokes synchronously; returns Result (FunctionRequestId, Log, ...). */
export async function invoke(server, account, name, event = {}, namespace = 'default') {
  const r = await call(server, account, 'Invoke', {
    FunctionName: name,
    Namespace: namespace,
    InvocationType: 'RequestResponse',
    LogType: 'Tail',
    ClientContext: JSON.stringify(event),
  });
  if (r.Result.InvokeResult !== 0) throw new Error(`invocation of ${name} failed: ${JSON.stringify(r.Result)}`);
  return r.Result;
}
