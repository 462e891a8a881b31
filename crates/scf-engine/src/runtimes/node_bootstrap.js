// scfd's Node.js runtime: loads the handler once, then serves invocations one at a time.
//
// Protocol (scf-engine's protocol.rs): one JSON object a line, both ways, over the Unix socket
// the host gives as stdin (fd 0); stdout and stderr are only ever log to the host, so nothing
// a function prints can be taken for an answer. console output and process.stdout/stderr
// writes during an invocation are captured and sent with the answer.
"use strict";
const net = require("net");
const path = require("path");
const readline = require("readline");
const util = require("util");

const LOG_CAP = 64 * 1024;
// SCF's cap on a synchronous response, checked here so an oversized result fails at once (the
// host checks again).
const MAX_RESPONSE_BYTES = 6 * 1024 * 1024;
const realStderrWrite = process.stderr.write.bind(process.stderr);
const proto = new net.Socket({ fd: 0, readable: true, writable: true });

function send(obj) {
  proto.write(JSON.stringify(obj) + "\n");
}

let capture = null;
function captured(chunk, encoding, cb) {
  const text = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
  if (capture) {
    const room = LOG_CAP - capture.size;
    if (room > 0) {
      capture.parts.push(text.slice(0, room));
      capture.size += Math.min(text.length, room);
    }
    capture.dropped += Math.max(0, text.length - Math.max(room, 0));
  } else {
    realStderrWrite(text);
  }
  if (typeof encoding === "function") encoding();
  else if (typeof cb === "function") cb();
  return true;
}
process.stdout.write = captured;
process.stderr.write = captured;

function startCapture() {
  capture = { parts: [], size: 0, dropped: 0 };
}
function stopCapture() {
  const c = capture;
  capture = null;
  let out = c ? c.parts.join("") : "";
  if (c && c.dropped) out += `\n[log truncated: ${c.dropped} more characters]\n`;
  return out;
}

function formatError(err) {
  if (err instanceof Error) return err.stack || `${err.name}: ${err.message}`;
  if (typeof err === "string") return err;
  try {
    return JSON.stringify(err);
  } catch (_) {
    return util.inspect(err);
  }
}

function loadHandler() {
  const handler = process.env._HANDLER || "index.main_handler";
  const dot = handler.lastIndexOf(".");
  const file = handler.slice(0, dot);
  const name = handler.slice(dot + 1);
  const root = process.env.USER_CODE_ROOT || process.cwd();
  const mod = require(path.join(root, file));
  const fn = mod[name];
  if (typeof fn !== "function") {
    const e = new Error(`Handler '${handler}' not found: ${file}.js exports no function '${name}'`);
    e.scfPlain = true;
    throw e;
  }
  return fn;
}

function invoke(fn, event, context) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (err, value) => {
      if (settled) return;
      settled = true;
      if (err !== null && err !== undefined) reject(err);
      else resolve(value);
    };
    context.done = done;
    context.succeed = (v) => done(null, v);
    context.fail = (e) => done(e);
    try {
      const ret = fn(event, context, done);
      if (ret && typeof ret.then === "function") ret.then((v) => done(null, v), (e) => done(e));
      else if (fn.length < 3) done(null, ret);
    } catch (e) {
      done(e);
    }
  });
}

// Start-up has two steps (see python_bootstrap.py): "standby" once up, then the handler is
// loaded when the host sends its first line ({"type": "init"}).
function init() {
  const started = Date.now();
  startCapture();
  let fn;
  try {
    fn = loadHandler();
  } catch (e) {
    const error = e && e.scfPlain ? e.message : formatError(e);
    send({ type: "init_error", error, log: stopCapture(), init_ms: Date.now() - started });
    process.exit(1);
  }
  send({ type: "ready", log: stopCapture(), init_ms: Date.now() - started });
  return fn;
}

async function main() {
  let fn = null;
  const rl = readline.createInterface({ input: proto, terminal: false });
  send({ type: "standby" });
  const queue = [];
  let busy = false;
  const next = async () => {
    if (busy || queue.length === 0) return;
    busy = true;
    const line = queue.shift();
    let req;
    try {
      req = JSON.parse(line);
    } catch (e) {
      const found = /^\{"id":"([^"\\]*)"/.exec(line);
      if (!found) throw e;
      send({ id: found[1], ok: false, error: `The event cannot be decoded: ${e.name}: ${e.message}` });
      busy = false;
      next();
      return;
    }
    const deadline = req.deadline_ms || Date.now() + 3000;
    const context = Object.assign({}, req.context || {});
    context.getRemainingTimeInMillis = () => Math.max(0, deadline - Date.now());
    context.callbackWaitsForEmptyEventLoop = true;
    startCapture();
    let answer;
    try {
      const value = await invoke(fn, req.event, context);
      const body = value === undefined ? "null" : JSON.stringify(value);
      const result = body === undefined ? "null" : body;
      const size = Buffer.byteLength(result, "utf8");
      answer =
        size > MAX_RESPONSE_BYTES
          ? { id: req.id, ok: false, error: `The function's response is ${size} bytes, over the 6 MB limit.` }
          : { id: req.id, ok: true, result };
    } catch (e) {
      answer = { id: req.id, ok: false, error: formatError(e) };
    }
    const log = stopCapture();
    if (answer.ok) {
      // The result goes in place, as the JSON it already is: not escaped into a string.
      proto.write(`{"id":${JSON.stringify(answer.id)},"ok":true,"log":${JSON.stringify(log)},"result":${answer.result}}\n`);
    } else {
      answer.log = log;
      send(answer);
    }
    busy = false;
    next();
  };
  rl.on("line", (line) => {
    if (!line.trim()) return;
    if (fn === null) {
      fn = init();
      return;
    }
    queue.push(line);
    next();
  });
  rl.on("close", () => process.exit(0));
}

process.on("uncaughtException", (e) => {
  realStderrWrite(`uncaught exception: ${formatError(e)}\n`);
  process.exit(1);
});
main();
