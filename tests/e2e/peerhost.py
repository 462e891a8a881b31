"""A host of the tests' own beside this machine: a network namespace joined to the host by a
veth pair, with an address of the benchmarking range (198.18.0.0/15).

Sandboxed functions have a network namespace each: the host's loopback is out of their reach,
and so is the host's primary address (each instance holds that address itself). What they can
reach is the outside, through their outbound network (pasta), as another machine would be: this
namespace plays that machine, so that no test traffic ever leaves the host. Needs root and
iproute2's `ip`.

    peer = peer_host()          # one per test session, removed at exit
    sock = peer.listen()        # a TCP socket bound inside it, on peer.addr
"""

from __future__ import annotations

import atexit
import ctypes
import os
import socket
import subprocess

CLONE_NEWNET = 0x40000000


def _ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True).stdout


class PeerHost:
    def __init__(self) -> None:
        tag = str(os.getpid())[-6:]
        self.netns = f"scfd-peer-{tag}"
        self.host_if = f"scfdp{tag}"
        routes = _ip("-4", "route")
        free = next(i for i in range(1, 255) if f"198.18.{i}." not in routes)
        self.host_addr, self.addr = f"198.18.{free}.1", f"198.18.{free}.2"
        _ip("netns", "add", self.netns)
        try:
            _ip("link", "add", self.host_if, "type", "veth", "peer", "name", "eth0", "netns", self.netns)
            _ip("addr", "add", f"{self.host_addr}/30", "dev", self.host_if)
            _ip("link", "set", self.host_if, "up")
            _ip("-n", self.netns, "addr", "add", f"{self.addr}/30", "dev", "eth0")
            _ip("-n", self.netns, "link", "set", "eth0", "up")
            _ip("-n", self.netns, "link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise

    def socket(self, kind: int = socket.SOCK_STREAM) -> socket.socket:
        """A socket made inside the namespace (it stays there whatever thread uses it)."""
        libc = ctypes.CDLL(None, use_errno=True)
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        peer = os.open(f"/run/netns/{self.netns}", os.O_RDONLY)
        try:
            if libc.setns(peer, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns into the peer host")
            try:
                return socket.socket(socket.AF_INET, kind)
            finally:
                if libc.setns(own, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back")
        finally:
            os.close(own)
            os.close(peer)

    def listen(self, port: int = 0) -> socket.socket:
        """A TCP socket listening on the peer's address."""
        s = self.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.addr, port))
        s.listen(64)
        return s

    def close(self) -> None:
        # Removing the namespace removes both ends of the veth pair.
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)


_PEER: PeerHost | None = None


def peer_host() -> PeerHost:
    """The session's peer host, made on first use."""
    global _PEER
    if _PEER is None:
        _PEER = PeerHost()
        atexit.register(_PEER.close)
    return _PEER
