#!/usr/bin/env python3
"""An independent ZeroMQ peer (pyzmq) for zmqio's interop tests (tests/tests/interop.rs).

Usage: peer.py ROLE ENDPOINT

The zmqio side binds ENDPOINT; this peer connects to it with the socket type ROLE names and
exchanges the fixed script of messages below (the Rust side builds the same script), checking
that exactly what was sent arrives, in order. It exits 0 on success; on any mismatch, error or
timeout it prints why on stderr and exits 1. It can never hang: every receive and send has a
timeout, and an alarm ends the whole run.

Roles (this peer's socket; the zmqio socket in brackets):
  req     REQ sends the script, checks each echoed reply          [REP echoes]
  rep     REP checks each request, echoes it                      [REQ sends, checks replies]
  dealer  DEALER sends the script, checks each echo; then sends a burst of BURST messages
          at once and checks the echoes                           [ROUTER echoes]
  router  ROUTER checks each request, echoes it to its sender; the same for the burst
                                                                  [DEALER sends, checks]
  push    PUSH sends the script                                   [PULL checks]
  pull    PULL checks the script                                  [PUSH sends]
  pub     PUB sends "sync" until told READY on stdin, then the script   [SUB checks]
  sub     SUB waits for "sync", says READY on stdout, checks the script [PUB sends]

Every role that receives expects silence once its last expected message arrived: anything
more within QUIET_MS is a failure (an extra or duplicated message).
"""

import select
import signal
import sys

import zmq

TIMEOUT_MS = 20_000
ALARM_S = 60
BIG_LEN = 10 * 1024 * 1024
BURST = 1000
QUIET_MS = 300


def script():
    """The messages both sides exchange, in order (mirrored in tests/tests/interop.rs)."""
    big = (bytes(range(251)) * (BIG_LEN // 251 + 1))[:BIG_LEN]
    return [
        [b"hello"],
        [b""],
        [b"", b"middle", b""],
        [(b"%02d" % i) if i % 3 else b"" for i in range(64)],
        [bytes(range(256))],
        [b"big", big],
        [b"bye"],
    ]


def burst():
    """The burst DEALER/ROUTER exchange after the script (mirrored in tests/tests/interop.rs):
    message i is [b"burst", the decimal i, i % 50 bytes of value i % 256]."""
    return [[b"burst", b"%d" % i, bytes([i % 256]) * (i % 50)] for i in range(BURST)]


def describe(msg):
    return "[%s]" % ", ".join(
        repr(f) if len(f) <= 16 else "<%d bytes>" % len(f) for f in msg
    )


def fail(why):
    sys.stderr.write("peer.py: %s\n" % why)
    sys.stderr.flush()
    sys.exit(1)


def expect(got, want, what):
    if got != want:
        fail("%s: expected %s, got %s" % (what, describe(want), describe(got)))


def expect_silence(sock, what):
    """Fails if anything more arrives within QUIET_MS."""
    if sock.poll(QUIET_MS, zmq.POLLIN):
        fail("%s: unexpected extra message %s" % (what, describe(sock.recv_multipart())))


def main():
    if len(sys.argv) != 3:
        fail("usage: peer.py ROLE ENDPOINT")
    role, endpoint = sys.argv[1], sys.argv[2]
    signal.signal(signal.SIGALRM, lambda *_: fail("timed out after %d s" % ALARM_S))
    signal.alarm(ALARM_S)

    kinds = {
        "req": zmq.REQ, "rep": zmq.REP, "dealer": zmq.DEALER, "router": zmq.ROUTER,
        "push": zmq.PUSH, "pull": zmq.PULL, "pub": zmq.PUB, "sub": zmq.SUB,
    }
    if role not in kinds:
        fail("unknown role %r" % role)
    ctx = zmq.Context()
    sock = ctx.socket(kinds[role])
    sock.rcvtimeo = TIMEOUT_MS
    sock.sndtimeo = TIMEOUT_MS
    # Bounded: what was sent last still goes out before the process exits.
    sock.linger = TIMEOUT_MS
    if role == "sub":
        sock.setsockopt(zmq.SUBSCRIBE, b"")
    if role == "router":
        # A ROUTER drops a message for a full peer unless told to wait (the burst can fill it).
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
    sock.connect(endpoint)

    msgs = script()
    try:
        if role in ("req", "dealer"):
            for i, msg in enumerate(msgs):
                sock.send_multipart(msg)
                expect(sock.recv_multipart(), msg, "reply %d" % i)
            if role == "dealer":
                for msg in burst():
                    sock.send_multipart(msg)
                for i, msg in enumerate(burst()):
                    expect(sock.recv_multipart(), msg, "burst reply %d" % i)
            expect_silence(sock, "after the last reply")
        elif role == "rep":
            for i, msg in enumerate(msgs):
                got = sock.recv_multipart()
                expect(got, msg, "request %d" % i)
                sock.send_multipart(got)
            expect_silence(sock, "after the last request")
        elif role == "router":
            for i, msg in enumerate(msgs + burst()):
                got = sock.recv_multipart()
                expect(got[1:], msg, "request %d" % i)
                sock.send_multipart(got)
            expect_silence(sock, "after the last request")
        elif role == "push":
            for msg in msgs:
                sock.send_multipart(msg)
        elif role == "pull":
            for i, msg in enumerate(msgs):
                expect(sock.recv_multipart(), msg, "message %d" % i)
            expect_silence(sock, "after the last message")
        elif role == "pub":
            # Publish "sync" until the subscriber says (on stdin) that it got one.
            while True:
                sock.send_multipart([b"sync"])
                ready, _, _ = select.select([sys.stdin], [], [], 0.01)
                if ready:
                    line = sys.stdin.readline()
                    if line.strip() != "READY":
                        fail("expected READY on stdin, got %r" % line)
                    break
            for msg in msgs:
                sock.send_multipart(msg)
        elif role == "sub":
            expect(sock.recv_multipart(), [b"sync"], "first message")
            print("READY", flush=True)
            got = sock.recv_multipart()
            while got == [b"sync"]:
                got = sock.recv_multipart()
            for i, msg in enumerate(msgs):
                if i > 0:
                    got = sock.recv_multipart()
                expect(got, msg, "message %d" % i)
            expect_silence(sock, "after the last message")
    except zmq.Again:
        fail("%s: timed out after %d ms" % (role, TIMEOUT_MS))
    except zmq.ZMQError as e:
        fail("%s: %s" % (role, e))
    sock.close()
    ctx.term()


if __name__ == "__main__":
    main()
