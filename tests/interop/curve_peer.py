#!/usr/bin/env python3
"""A pyzmq peer for zmqio's security interop tests (tests/tests/security_interop.rs).

Usage:
  curve_peer.py create DIR NAME
      pyzmq's zmq.auth.create_certificates: writes DIR/NAME.key and DIR/NAME.key_secret.
  curve_peer.py load FILE
      pyzmq's zmq.auth.load_certificate: prints "public <z85>" and "secret <z85|None>".
  curve_peer.py keys DIR
      pyzmq's zmq.auth.load_certificates: prints "key <z85>" per public key, sorted.
  curve_peer.py server SECRET_CERT CLIENTS_DIR
      A CURVE REP server with the secret certificate SECRET_CERT and pyzmq's
      ThreadAuthenticator admitting the public certificates in CLIENTS_DIR. Binds
      tcp://127.0.0.1:*, prints "endpoint <endpoint>", echoes one request, exits 0.
  curve_peer.py client SERVER_PUBLIC_CERT CLIENT_SECRET_CERT ENDPOINT
      A CURVE REQ client: sends "hello from pyzmq", expects it echoed, exits 0.

Any failure or timeout prints why on stderr and exits 1; an alarm ends every run.
"""

import signal
import sys

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

TIMEOUT_MS = 20_000
ALARM_S = 60


def fail(why):
    sys.stderr.write("curve_peer.py: %s\n" % why)
    sys.stderr.flush()
    sys.exit(1)


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def text(key):
    return "None" if key is None else key.decode("ascii")


def main():
    signal.signal(signal.SIGALRM, lambda *_: fail("timed out after %d s" % ALARM_S))
    signal.alarm(ALARM_S)
    args = sys.argv[1:]
    if not args:
        fail("usage: see the module docstring")
    mode, rest = args[0], args[1:]
    if mode == "create" and len(rest) == 2:
        public, secret = zmq.auth.create_certificates(rest[0], rest[1])
        say("public-file %s" % public)
        say("secret-file %s" % secret)
    elif mode == "load" and len(rest) == 1:
        public, secret = zmq.auth.load_certificate(rest[0])
        say("public %s" % text(public))
        say("secret %s" % text(secret))
    elif mode == "keys" and len(rest) == 1:
        for key in sorted(zmq.auth.load_certificates(rest[0])):
            say("key %s" % text(key))
    elif mode == "server" and len(rest) == 2:
        serve(rest[0], rest[1])
    elif mode == "client" and len(rest) == 3:
        request(rest[0], rest[1], rest[2])
    else:
        fail("bad arguments: %r" % args)


def serve(secret_cert, clients_dir):
    ctx = zmq.Context()
    auth = ThreadAuthenticator(ctx)
    auth.start()
    auth.configure_curve(domain="*", location=clients_dir)
    public, secret = zmq.auth.load_certificate(secret_cert)
    sock = ctx.socket(zmq.REP)
    sock.curve_publickey = public
    sock.curve_secretkey = secret
    sock.curve_server = True
    sock.rcvtimeo = TIMEOUT_MS
    sock.sndtimeo = TIMEOUT_MS
    sock.linger = 1000
    sock.bind("tcp://127.0.0.1:*")
    say("endpoint %s" % sock.getsockopt_string(zmq.LAST_ENDPOINT))
    try:
        msg = sock.recv_multipart()
    except zmq.Again:
        fail("no request arrived")
    sock.send_multipart(msg)
    sock.close()
    auth.stop()
    ctx.term()


def request(server_public_cert, client_secret_cert, endpoint):
    ctx = zmq.Context()
    server_public, _ = zmq.auth.load_certificate(server_public_cert)
    public, secret = zmq.auth.load_certificate(client_secret_cert)
    if secret is None:
        fail("%s has no secret key" % client_secret_cert)
    sock = ctx.socket(zmq.REQ)
    sock.curve_serverkey = server_public
    sock.curve_publickey = public
    sock.curve_secretkey = secret
    sock.rcvtimeo = TIMEOUT_MS
    sock.sndtimeo = TIMEOUT_MS
    sock.linger = 0
    sock.connect(endpoint)
    want = [b"hello from pyzmq"]
    sock.send_multipart(want)
    try:
        got = sock.recv_multipart()
    except zmq.Again:
        fail("no reply: refused by the server?")
    if got != want:
        fail("expected %r, got %r" % (want, got))
    sock.close()
    ctx.term()


if __name__ == "__main__":
    main()
