"""An abusive client at the HTTP front door (issue 11, points 1 and 2).

Before (main at f07d808): no header-read timeout and no connection cap (slow connections held
the server's descriptors and `/healthz` with them); an oversized body was answered while the
client was still sending, so the SDK saw "Broken pipe" instead of `RequestSizeLimitExceeded`;
a `text/plain` POST was served as JSON; and a captured TC3 request could be sent again, within
its five minutes, as another action (the SDK signs only `content-type;host`)."""

from __future__ import annotations

import base64
import socket
import time

import pytest
import requests

from scfdtest import ACCOUNT_A, api_error, make_config, raw_tc3, uniq

SLOW_CONFIG = {
    "max_connections": 64,
    "header_read_timeout_seconds": 2,
    "signature_reuse_grace_ms": 300,
}


@pytest.fixture(scope="module")
def door(tmp_path_factory):
    from scfdtest import Server
    s = Server(tmp_path_factory.mktemp("scfd-door"), make_config(sections={"http": SLOW_CONFIG}))
    s.start()
    yield s
    s.stop()


def _host_port(server):
    host, port = server.endpoint.rsplit(":", 1)
    return host, int(port)


def _slow_client(server) -> socket.socket:
    """A connection that starts a request head and never finishes it."""
    s = socket.create_connection(_host_port(server), timeout=5)
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    return s


def test_slow_connections_over_the_cap_do_not_keep_healthz_out(door):
    held = [_slow_client(door) for _ in range(200)]
    try:
        for _ in range(5):
            r = requests.get(door.base_url + "/healthz", timeout=5)
            assert r.status_code == 200 and r.text == "ok"
        # The API too, signed, through the same crowded door.
        r = raw_tc3(door, "ListNamespaces", {})
        assert "Error" not in r.json()["Response"], r.text
        # Of the 200, at most the cap are still open: the rest were closed to make room.
        open_ = 0
        for s in held:
            s.setblocking(False)
            try:
                closed = s.recv(1) == b""
            except BlockingIOError:
                closed = False
            except OSError:
                closed = True
            open_ += not closed
        assert open_ <= SLOW_CONFIG["max_connections"], open_
    finally:
        for s in held:
            s.close()


def test_a_connection_that_never_finishes_its_head_is_closed(door):
    s = _slow_client(door)
    s.settimeout(15)
    try:
        # The header-read timeout is 2 s; hyper answers 408 or just closes. Either way the
        # server ends the connection, well before this read gives up.
        data = s.recv(4096)
        while data and not data.endswith(b"\r\n\r\n") and b"\r\n\r\n" not in data:
            more = s.recv(4096)
            if not more:
                break
            data += more
        assert data == b"" or data.startswith(b"HTTP/1.1 408"), data[:80]
    finally:
        s.close()


def test_an_oversized_body_is_answered_with_its_code_through_the_sdk(door):
    api = door.client(ACCOUNT_A)
    zip_b64 = base64.b64encode(b"\0" * (11 << 20)).decode()
    e = api.expect("RequestSizeLimitExceeded", "CreateFunction", {
        "FunctionName": uniq("big"), "Code": {"ZipFile": zip_b64},
        "Handler": "index.main_handler", "Runtime": "Python3.9",
    })
    assert "10485760" in e.get_message(), e.get_message()
    # The server is fine afterwards.
    assert requests.get(door.base_url + "/healthz", timeout=5).text == "ok"


def test_a_post_that_is_neither_json_nor_a_form_is_refused(door):
    r = raw_tc3(door, "ListNamespaces", {}, content_type="text/plain")
    assert api_error(r) == "UnsupportedProtocol", r.text


def test_a_captured_signature_cannot_come_back_as_another_action(door):
    api = door.client(ACCOUNT_A)
    name = uniq("rp")
    api.create_function(name)
    ts = int(time.time())
    first = raw_tc3(door, "GetFunction", {"FunctionName": name}, timestamp=ts)
    assert first.json()["Response"]["FunctionName"] == name, first.text
    # Past the grace an honest same-second pair gets, the same bytes as another action.
    time.sleep(0.5)
    replay = raw_tc3(door, "GetFunctionAddress", {"FunctionName": name}, timestamp=ts)
    assert api_error(replay) == "AuthFailure.SignatureFailure", replay.text
    assert "already used" in replay.json()["Response"]["Error"]["Message"]
    other_region = raw_tc3(door, "GetFunction", {"FunctionName": name}, timestamp=ts,
                           region="ap-shanghai")
    assert api_error(other_region) == "AuthFailure.SignatureFailure", other_region.text
    # The same request again, unchanged, is still served (SDK retries do this).
    again = raw_tc3(door, "GetFunction", {"FunctionName": name}, timestamp=ts)
    assert again.json()["Response"]["FunctionName"] == name, again.text


def test_two_actions_with_one_body_in_one_second_both_work(door):
    """The honest case the grace is for: GetFunction then DeleteFunction, same body."""
    api = door.client(ACCOUNT_A)
    name = uniq("rp")
    api.create_function(name)
    ts = int(time.time())
    got = raw_tc3(door, "GetFunction", {"FunctionName": name}, timestamp=ts)
    assert got.json()["Response"]["FunctionName"] == name, got.text
    deleted = raw_tc3(door, "DeleteFunction", {"FunctionName": name}, timestamp=ts)
    assert "Error" not in deleted.json()["Response"], deleted.text
