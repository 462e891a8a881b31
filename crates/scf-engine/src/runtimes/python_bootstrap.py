# scfd's Python runtime: loads the handler once, then serves invocations one at a time.
#
# Protocol (see scf-engine's protocol.rs): one JSON object a line, both ways, over the Unix
# socket the host gives as stdin. It is moved off fd 0 at once (fd 0 becomes /dev/null), so
# the handler and its subprocesses never inherit it; the real stdout and stderr are only ever
# log to the host, so nothing a function writes there can be taken for an answer. print() and
# sys.stderr inside the handler are captured per invocation and sent with the answer.
#
# Start-up has two steps, so that the host can start an instance ahead of need (a spare) and
# run the function's own initialization only when a request comes: the runtime says
# {"type": "standby"} once the interpreter is up, waits for one line ({"type": "init"}), then
# loads the handler and says "ready" (or "init_error").
import io
import json
import os
import re
import socket
import sys
import time

LOG_CAP = 64 * 1024
# SCF's cap on a synchronous response; checked here so an oversized result fails at once
# (the host checks again: nothing the instance says is trusted).
MAX_RESPONSE_BYTES = 6 * 1024 * 1024

_proto = socket.socket(fileno=os.dup(0))  # os.dup: not inherited by subprocesses
_null = os.open(os.devnull, os.O_RDWR)
os.dup2(_null, 0)
os.close(_null)
_proto_in = _proto.makefile("r", encoding="utf-8", newline="\n")
_proto_out = _proto.makefile("w", encoding="utf-8")
sys.stdin = open(os.devnull)


def send(obj):
    _proto_out.write(json.dumps(obj, ensure_ascii=False) + "\n")
    _proto_out.flush()


_ID = re.compile(r'^\{"id":"([^"\\]*)"')


class Capture(io.TextIOBase):
    """A text stream that keeps what is written, up to LOG_CAP characters."""

    def __init__(self):
        self.parts = []
        self.size = 0
        self.dropped = 0

    def write(self, s):
        if not isinstance(s, str):
            s = str(s)
        room = LOG_CAP - self.size
        if room > 0:
            self.parts.append(s[:room])
            self.size += min(len(s), room)
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    def flush(self):
        pass

    def text(self):
        out = "".join(self.parts)
        if self.dropped:
            out += "\n[log truncated: %d more characters]\n" % self.dropped
        return out


def format_exception(exc, skip_frames):
    import traceback  # only on failure: it costs a few ms at start-up

    tb = exc.__traceback__
    for _ in range(skip_frames):
        if tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb)).rstrip("\n")


class Context(dict):
    """SCF's context: a dict (as SCF passes it), plus the remaining-time helper."""

    def get_remaining_time_in_millis(self):
        return max(0, int(self._deadline_ms - time.time() * 1000))


def load_handler():
    handler = os.environ.get("_HANDLER", "index.main_handler")
    module_path, _, func_name = handler.rpartition(".")
    root = os.environ.get("USER_CODE_ROOT", os.getcwd())
    if root not in sys.path:
        sys.path.insert(0, root)
    module_name = module_path.replace("/", ".")
    capture = Capture()
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = capture
    try:
        module = __import__(module_name, fromlist=["_"])
        func = getattr(module, func_name, None)
        if not callable(func):
            return None, capture.text(), "Handler '%s' not found: module '%s' has no function '%s'" % (
                handler, module_name, func_name)
        return func, capture.text(), None
    except BaseException as exc:  # noqa: BLE001 - any failure at import is the function's error
        return None, capture.text(), format_exception(exc, 1)
    finally:
        sys.stdout, sys.stderr = saved


def main():
    send({"type": "standby"})
    if not _proto_in.readline():
        return 0
    started = time.time()
    func, init_log, init_error = load_handler()
    init_ms = (time.time() - started) * 1000.0
    if init_error is not None:
        send({"type": "init_error", "error": init_error, "log": init_log, "init_ms": init_ms})
        return 1
    send({"type": "ready", "log": init_log, "init_ms": init_ms})
    for line in _proto_in:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
        except (RecursionError, ValueError) as exc:
            # The host sent it; the id comes first, so it is still readable.
            found = _ID.match(line)
            if found is None:
                raise
            send({"id": found.group(1), "ok": False,
                  "error": "The event cannot be decoded: %s: %s" % (type(exc).__name__, exc)})
            continue
        context = Context(req.get("context") or {})
        context._deadline_ms = req.get("deadline_ms", time.time() * 1000 + 3000)
        capture = Capture()
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = capture
        try:
            result = func(req.get("event"), context)
            sys.stdout, sys.stderr = saved
            try:
                body = json.dumps(result, ensure_ascii=False)
            except (TypeError, ValueError) as exc:
                send({"id": req["id"], "ok": False, "error": "%s: %s" % (type(exc).__name__, exc),
                      "log": capture.text()})
                continue
            size = len(body.encode("utf-8", "surrogatepass"))
            if size > MAX_RESPONSE_BYTES:
                send({"id": req["id"], "ok": False, "log": capture.text(),
                      "error": "The function's response is %d bytes, over the 6 MB limit." % size})
                continue
            # json.dumps writes NaN and Infinity, which JSON has not: such a result (or one
            # merely holding the words) goes escaped, the slow way, so the line stays JSON.
            if "NaN" not in body and "Infinity" not in body:
                # The result goes in place, as the JSON it already is: not escaped into a string.
                _proto_out.write('{"id":%s,"ok":true,"log":%s,"result":%s}\n' % (
                    json.dumps(req["id"]), json.dumps(capture.text(), ensure_ascii=False), body))
                _proto_out.flush()
            else:
                # NaN or Infinity (json.dumps writes them; JSON has no such numbers): escaped.
                send({"id": req["id"], "ok": True, "result_text": body, "log": capture.text()})
        except SystemExit as exc:
            sys.stdout, sys.stderr = saved
            send({"id": req["id"], "ok": False, "error": "The function called exit(%s)" % (exc.code,),
                  "log": capture.text(), "fatal": True})
            return 1
        except BaseException as exc:  # noqa: BLE001 - the handler's failure is reported, not raised
            sys.stdout, sys.stderr = saved
            send({"id": req["id"], "ok": False, "error": format_exception(exc, 1), "log": capture.text()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
