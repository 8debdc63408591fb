//! The command line: every subcommand, its arguments and the parsers that check them.
//!
//! Values that can be checked without a socket (socket types, endpoint syntax, keys, sizes)
//! are checked here, so that bad input fails before anything is opened, with clap's
//! one-line "invalid value ... for '--arg'" message and status 2.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::keys::Z85Key;
use crate::zmqio::zmq::SocketType;

/// Send, receive, monitor, proxy and benchmark ZeroMQ sockets from the shell.
#[derive(Debug, Parser)]
#[command(
    name = "zmqio",
    version,
    propagate_version = true,
    max_term_width = 100
)]
#[command(after_help = "\
Examples:
  zmqio recv --type PULL --bind tcp://127.0.0.1:5555 &
  zmqio send --type PUSH --connect tcp://127.0.0.1:5555 hello world
  zmqio monitor --type PUSH --connect tcp://127.0.0.1:5555")]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Receive messages and print them, one line each
    #[command(after_help = RECV_HELP)]
    Recv(RecvArgs),
    /// Send messages given as arguments or read from stdin
    #[command(after_help = SEND_HELP)]
    Send(SendArgs),
    /// Print a socket's monitor events (connects, retries, handshake failures) as they happen
    #[command(after_help = MONITOR_HELP)]
    Monitor(MonitorArgs),
    /// Forward messages between two sockets: a broker or a forwarder
    #[command(after_help = PROXY_HELP)]
    Proxy(ProxyArgs),
    /// Make a CURVE key pair, printed in Z85 or written as certificate files
    #[command(after_help = KEYGEN_HELP)]
    Keygen(KeygenArgs),
    /// Measure throughput or latency over loopback
    #[command(after_help = BENCH_HELP)]
    Bench(BenchArgs),
}

const RECV_HELP: &str = "\
Each message is one line on stdout. With --format text, frames are separated by ' | ' and a
frame that is not printable UTF-8, or that would be misread (it starts with 0x or holds
' | '), is shown as 0x followed by its bytes in hex; --format json prints one object a line:
{\"frames\":[{\"text\":\"hello\"},{\"hex\":\"00ff\"}]}.

A bind prints 'bound ENDPOINT' on stderr first (the real port of tcp://127.0.0.1:*).

SUB without --subscribe receives everything. REP answers every request with --reply TEXT,
or with the request itself.

A PLAIN server (--plain-server) admits the users of --plain-users or --plain-users-file; a
CURVE server (--curve-server) admits the clients whose public certificates are in the
--curve-allow directories, or any client with --curve-allow-any, or, with neither, any
client too (said on stderr). A refused client is reported on stderr with its ZAP status.

Examples:
  zmqio recv --type PULL --bind 'tcp://127.0.0.1:*'
  zmqio recv --type SUB --connect tcp://127.0.0.1:5556 --subscribe weather. --count 10
  zmqio recv --type REP --bind ipc:///tmp/echo.sock --reply ok --format json
  zmqio recv --type PULL --bind tcp://127.0.0.1:5555 --plain-server --plain-users-file users.txt
  zmqio recv --type PULL --bind tcp://127.0.0.1:5555 --curve-server --curve-secret-key KEY \\
      --curve-allow certs/clients";

const SEND_HELP: &str = "\
The FRAMEs make one message (a multipart message when there are several). With --stdin,
each line of standard input is one message of one frame. REQ prints each reply (see
--format) before sending the next request. A ROUTER's first FRAME is the routing id of the
peer to send to; the message waits until a peer with that id is connected (Ctrl-C gives up,
status 1).

PUB and the slow joiner: a PUB drops every message sent before a subscriber has connected
and its subscription has arrived, so 'zmqio send --type PUB' right after starting a
subscriber usually sends into the void. Either wait a while with --delay MS, or use
--wait-subscriber: the socket is then an XPUB (which publishes exactly as a PUB does) and
the first message waits until a subscription has arrived.

After its last message, a PUSH, DEALER or PAIR that connects waits until a peer has taken
the connection or refused it: a refusal (a wrong password or key, another security
mechanism, a socket type that does not pair) ends the command with status 1 and says that
what was sent there is not delivered. --linger MS bounds that wait too (then a warning).

On Ctrl-C while sending, nothing more is sent; what was already accepted is still
delivered (LINGER applies, see --linger). Once everything is sent, the command waits for
that delivery (said on stderr after a second); a Ctrl-C then drops what is left (status
130).

Examples:
  zmqio send --type PUSH --connect tcp://127.0.0.1:5555 hello
  zmqio send --type REQ --connect tcp://127.0.0.1:5557 ping --repeat 3 --interval 500
  zmqio send --type PUB --bind 'tcp://127.0.0.1:*' --wait-subscriber weather. sunny
  zmqio send --type PUSH --connect tcp://127.0.0.1:5555 --plain alice:secret hello
  zmqio send --type PUSH --connect tcp://127.0.0.1:5555 --curve-server-key SERVER-PUBLIC-KEY \\
      --curve-public-key KEY --curve-secret-key KEY hello
  tail -f app.log | zmqio send --type PUSH --connect ipc:///tmp/logs.sock --stdin";

const MONITOR_HELP: &str = "\
Events are printed on stdout, one line each, with a UTC timestamp, the event, the endpoint
and what the event's value means (a file descriptor, a retry interval, an errno, a
handshake failure's reason or a ZAP status code). Messages the socket receives meanwhile
are read and dropped.

Examples:
  zmqio monitor --type DEALER --connect tcp://127.0.0.1:5555
  zmqio monitor --type ROUTER --bind 'tcp://127.0.0.1:*' --curve-server --curve-secret-key KEY \\
      --curve-allow certs/clients
  zmqio monitor --type SUB --connect tcp://127.0.0.1:5556 --count 1 --format json";

const PROXY_HELP: &str = "\
SIDE is TYPE:ENDPOINT, bound by default; TYPE:@ENDPOINT binds and TYPE:>ENDPOINT connects
(quote it for the shell). Messages are forwarded in both directions where the socket types
allow it; a slow side makes the proxy stop reading from the other (backpressure) instead of
queueing without bound. --capture publishes a copy of every forwarded message on a PUB.
The security options apply to the frontend.

Examples:
  zmqio proxy --frontend ROUTER:tcp://127.0.0.1:5559 --backend DEALER:tcp://127.0.0.1:5560
  zmqio proxy --frontend XSUB:tcp://127.0.0.1:6000 --backend XPUB:tcp://127.0.0.1:6001
  zmqio proxy --frontend PULL:tcp://127.0.0.1:7000 --backend 'PUSH:>tcp://10.0.0.5:7001' \\
      --capture tcp://127.0.0.1:7002";

const KEYGEN_HELP: &str = "\
Without --out, prints the public and the secret key in Z85 (40 characters each). With --out
DIR NAME, writes DIR/NAME.key (public) and DIR/NAME.key_secret (secret, mode 0600) in the
ZPL certificate format that pyzmq's zmq.auth and czmq read.

Needs a libzmq built with CURVE (the zmq crate's vendored build has none).

Examples:
  zmqio keygen
  zmqio keygen --out certs server";

const BENCH_HELP: &str = "\
push-pull and pub-sub measure throughput (msgs/s and MB/s); req-rep measures round-trip
latency (p50 and p99). Both sockets run in this process, over tcp://127.0.0.1 by default.
A progress bar is shown on long runs when stdout is a terminal.

Examples:
  zmqio bench --type push-pull --size 64 --count 1000000
  zmqio bench --type req-rep --count 10000
  zmqio bench --type pub-sub --size 1024 --transport inproc";

/// Where a socket binds and connects.
#[derive(Debug, Args, Clone)]
#[group(required = true, multiple = true)]
pub(crate) struct Endpoints {
    /// Bind to this endpoint (repeatable), e.g. tcp://127.0.0.1:* or ipc:///tmp/x.sock
    #[arg(long, value_name = "EP", value_parser = parse_endpoint)]
    pub(crate) bind: Vec<String>,
    /// Connect to this endpoint (repeatable); tcp host names are resolved first
    #[arg(long, value_name = "EP", value_parser = parse_endpoint)]
    pub(crate) connect: Vec<String>,
}

/// CURVE, PLAIN and ZAP options, set before the first bind or connect.
///
/// A PLAIN server, and a CURVE server given --curve-allow or --curve-allow-any, have their
/// clients checked by zmqio's ZAP authenticator, started in this process.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Security")]
#[command(group(
    clap::ArgGroup::new("plain_passwords")
        .args(["plain_users", "plain_users_file"])
        .multiple(true)
))]
pub(crate) struct Security {
    /// Act as a CURVE server (needs --curve-secret-key). Without --curve-allow or
    /// --curve-allow-any, ANY client key is admitted: the traffic is encrypted, but anyone
    /// may connect
    #[arg(long, requires = "curve_secret_key", conflicts_with_all = ["curve_server_key", "plain", "plain_server"])]
    pub(crate) curve_server: bool,
    /// CURVE server: admit only clients whose public certificate (NAME.key, as 'zmqio keygen
    /// --out' writes) is in this directory (repeatable)
    #[arg(
        long,
        value_name = "DIR",
        requires = "curve_server",
        conflicts_with = "curve_allow_any"
    )]
    pub(crate) curve_allow: Vec<PathBuf>,
    /// CURVE server: admit any client key, knowingly (no warning)
    #[arg(long, requires = "curve_server")]
    pub(crate) curve_allow_any: bool,
    /// The server's public key, in Z85: makes this socket a CURVE client
    #[arg(long, value_name = "KEY", value_parser = parse_key, allow_hyphen_values = true, conflicts_with_all = ["plain", "plain_server"])]
    pub(crate) curve_server_key: Option<Z85Key>,
    /// This socket's public key, in Z85 (a CURVE client without one gets a fresh key pair)
    #[arg(long, value_name = "KEY", value_parser = parse_key, allow_hyphen_values = true, requires = "curve_secret_key")]
    pub(crate) curve_public_key: Option<Z85Key>,
    /// This socket's secret key, in Z85
    #[arg(long, value_name = "KEY", value_parser = parse_key, allow_hyphen_values = true)]
    pub(crate) curve_secret_key: Option<Z85Key>,
    /// Authenticate as a PLAIN client (PLAIN sends the password in clear text)
    #[arg(long, value_name = "USER:PASS", value_parser = parse_plain, allow_hyphen_values = true)]
    pub(crate) plain: Option<(String, String)>,
    /// Act as a PLAIN server, admitting the users of --plain-users or --plain-users-file
    #[arg(long, conflicts_with = "plain", requires = "plain_passwords")]
    pub(crate) plain_server: bool,
    /// PLAIN server: the users admitted, as USER:PASS (comma-separated or repeated; the
    /// command line is visible to other local users: prefer --plain-users-file)
    #[arg(long, value_name = "USER:PASS", value_parser = parse_plain, value_delimiter = ',', allow_hyphen_values = true, requires = "plain_server")]
    pub(crate) plain_users: Vec<(String, String)>,
    /// PLAIN server: a file of users admitted, one USER:PASS a line ('#' starts a comment
    /// line)
    #[arg(
        long,
        value_name = "FILE",
        requires = "plain_server",
        group = "plain_passwords"
    )]
    pub(crate) plain_users_file: Option<PathBuf>,
    /// The ZAP domain of a server socket (its clients are checked by the authenticator)
    #[arg(long, value_name = "DOMAIN", value_parser = parse_zap_domain)]
    pub(crate) zap_domain: Option<String>,
}

/// Socket options every long-running command takes.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct SocketOpts {
    /// How long closing may wait for queued messages to be delivered, in ms (-1: until
    /// delivered, libzmq's default; 0: drop them)
    #[arg(long, value_name = "MS", allow_negative_numbers = true, value_parser = clap::value_parser!(i32).range(-1..))]
    pub(crate) linger: Option<i32>,
    /// This socket's routing id (what a ROUTER peer sees as the first frame)
    #[arg(long, value_name = "ID", allow_hyphen_values = true)]
    pub(crate) routing_id: Option<String>,
    /// Report every monitor event on stderr, not only failures (send: and each message sent)
    #[arg(short, long)]
    pub(crate) verbose: bool,
}

/// How messages are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum Format {
    /// Printable frames as text, others (and text that would be misread) as 0x-prefixed hex,
    /// separated by ' | '
    #[default]
    Text,
    /// Every frame in hex, separated by ' | '
    Hex,
    /// One JSON object a line
    Json,
}

/// `zmqio recv`.
#[derive(Debug, Args)]
pub(crate) struct RecvArgs {
    /// The socket type: SUB, PULL, ROUTER, REP, DEALER, PAIR or XSUB
    #[arg(short = 't', long = "type", value_name = "TYPE", value_parser = parse_recv_type)]
    pub(crate) socket_type: SocketType,
    #[command(flatten)]
    pub(crate) endpoints: Endpoints,
    /// Subscribe to this topic prefix (SUB, XSUB; repeatable; default: everything)
    #[arg(short, long, value_name = "TOPIC", allow_hyphen_values = true)]
    pub(crate) subscribe: Vec<String>,
    /// Stop after this many messages
    #[arg(allow_negative_numbers = true, short = 'n', long, value_name = "N")]
    pub(crate) count: Option<u64>,
    /// How to print messages
    #[arg(short, long, value_enum, default_value_t)]
    pub(crate) format: Format,
    /// REP only: answer every request with this text (default: echo the request)
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub(crate) reply: Option<String>,
    #[command(flatten)]
    pub(crate) opts: SocketOpts,
    #[command(flatten)]
    pub(crate) security: Security,
}

/// `zmqio send`.
#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// The socket type: PUB, PUSH, REQ, DEALER, ROUTER, PAIR or XPUB
    #[arg(short = 't', long = "type", value_name = "TYPE", value_parser = parse_send_type)]
    pub(crate) socket_type: SocketType,
    #[command(flatten)]
    pub(crate) endpoints: Endpoints,
    /// The frames of the message (ROUTER: the first is the peer's routing id)
    #[arg(
        value_name = "FRAME",
        required_unless_present = "stdin",
        conflicts_with = "stdin"
    )]
    pub(crate) frames: Vec<String>,
    /// Send each line of standard input as a message of one frame
    #[arg(long)]
    pub(crate) stdin: bool,
    /// The FRAMEs (or, with --stdin, the lines) are hex (e.g. 00ff or 0x00ff), not text
    #[arg(long)]
    pub(crate) hex: bool,
    /// Send the message this many times
    #[arg(
        allow_negative_numbers = true,
        short,
        long,
        value_name = "N",
        default_value_t = 1,
        conflicts_with = "stdin"
    )]
    pub(crate) repeat: u64,
    /// Wait this long between two messages, in ms
    #[arg(
        allow_negative_numbers = true,
        short,
        long,
        value_name = "MS",
        default_value_t = 0
    )]
    pub(crate) interval: u64,
    /// Wait this long before the first message, in ms (gives subscribers time to join)
    #[arg(
        allow_negative_numbers = true,
        long,
        value_name = "MS",
        default_value_t = 0
    )]
    pub(crate) delay: u64,
    /// PUB, XPUB: wait until a subscription has arrived before the first message
    #[arg(long)]
    pub(crate) wait_subscriber: bool,
    /// REQ: give up when a reply takes longer than this, in ms (status 1); the unanswered
    /// request is dropped, even if no peer has taken it yet
    #[arg(allow_negative_numbers = true, long, value_name = "MS")]
    pub(crate) timeout: Option<u64>,
    /// How to print REQ's replies
    #[arg(short, long, value_enum, default_value_t)]
    pub(crate) format: Format,
    #[command(flatten)]
    pub(crate) opts: SocketOpts,
    #[command(flatten)]
    pub(crate) security: Security,
}

/// `zmqio monitor`.
#[derive(Debug, Args)]
pub(crate) struct MonitorArgs {
    /// The socket type to monitor (any type)
    #[arg(short = 't', long = "type", value_name = "TYPE", value_parser = parse_any_type)]
    pub(crate) socket_type: SocketType,
    #[command(flatten)]
    pub(crate) endpoints: Endpoints,
    /// Stop after this many events
    #[arg(allow_negative_numbers = true, short = 'n', long, value_name = "N")]
    pub(crate) count: Option<u64>,
    /// text: one readable line an event; json: one object a line (hex is text here)
    #[arg(short, long, value_enum, default_value_t)]
    pub(crate) format: Format,
    #[command(flatten)]
    pub(crate) opts: SocketOpts,
    #[command(flatten)]
    pub(crate) security: Security,
}

/// One side of a proxy: `TYPE:EP`, `TYPE:@EP` (bind) or `TYPE:>EP` (connect).
#[derive(Debug, Clone)]
pub(crate) struct Side {
    pub(crate) socket_type: SocketType,
    pub(crate) endpoint: String,
    pub(crate) bind: bool,
}

/// `zmqio proxy`.
#[derive(Debug, Args)]
pub(crate) struct ProxyArgs {
    /// The frontend: TYPE:EP (bind), TYPE:@EP (bind) or TYPE:>EP (connect)
    #[arg(long, value_name = "SIDE", value_parser = parse_side)]
    pub(crate) frontend: Side,
    /// The backend, in the same form
    #[arg(long, value_name = "SIDE", value_parser = parse_side)]
    pub(crate) backend: Side,
    /// Publish a copy of every forwarded message on a PUB bound here (>EP connects)
    #[arg(long, value_name = "EP", value_parser = parse_capture)]
    pub(crate) capture: Option<(String, bool)>,
    #[command(flatten)]
    pub(crate) opts: SocketOpts,
    #[command(flatten)]
    pub(crate) security: Security,
}

/// `zmqio keygen`.
#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// Write certificate files into this directory (made if missing)
    #[arg(long, value_name = "DIR", requires = "name")]
    pub(crate) out: Option<PathBuf>,
    /// The certificates' base name: NAME.key and NAME.key_secret
    #[arg(value_name = "NAME", requires = "out", value_parser = parse_cert_name)]
    pub(crate) name: Option<String>,
}

/// The workloads of `zmqio bench`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Workload {
    /// PUSH to PULL throughput
    PushPull,
    /// REQ/REP round-trip latency
    ReqRep,
    /// PUB to SUB throughput
    PubSub,
}

/// The loopback transports `zmqio bench` can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum BenchTransport {
    /// tcp://127.0.0.1:* (the port is picked by the system)
    #[default]
    Tcp,
    /// inproc:// (within the process, no network stack)
    Inproc,
}

/// `zmqio bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// The workload
    #[arg(short = 't', long = "type", value_name = "TYPE", value_enum)]
    pub(crate) workload: Workload,
    /// Message size in bytes (at most 256 MiB)
    #[arg(allow_negative_numbers = true, short, long, value_name = "B", default_value_t = 64, value_parser = parse_bench_size)]
    pub(crate) size: usize,
    /// Messages (round trips for req-rep)
    #[arg(allow_negative_numbers = true, short = 'n', long, value_name = "N", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) count: u64,
    /// The transport
    #[arg(long, value_enum, default_value_t)]
    pub(crate) transport: BenchTransport,
}

const RECV_TYPES: &[SocketType] = &[
    SocketType::SUB,
    SocketType::PULL,
    SocketType::ROUTER,
    SocketType::REP,
    SocketType::DEALER,
    SocketType::PAIR,
    SocketType::XSUB,
];

const SEND_TYPES: &[SocketType] = &[
    SocketType::PUB,
    SocketType::PUSH,
    SocketType::REQ,
    SocketType::DEALER,
    SocketType::ROUTER,
    SocketType::PAIR,
    SocketType::XPUB,
];

const ALL_TYPES: &[SocketType] = &[
    SocketType::PAIR,
    SocketType::PUB,
    SocketType::SUB,
    SocketType::REQ,
    SocketType::REP,
    SocketType::DEALER,
    SocketType::ROUTER,
    SocketType::PULL,
    SocketType::PUSH,
    SocketType::XPUB,
    SocketType::XSUB,
    SocketType::STREAM,
];

const PROXY_TYPES: &[SocketType] = &[
    SocketType::PAIR,
    SocketType::PUB,
    SocketType::SUB,
    SocketType::DEALER,
    SocketType::ROUTER,
    SocketType::PULL,
    SocketType::PUSH,
    SocketType::XPUB,
    SocketType::XSUB,
];

/// The name of a socket type, as libzmq spells it.
pub(crate) fn type_name(t: SocketType) -> &'static str {
    match t {
        SocketType::PAIR => "PAIR",
        SocketType::PUB => "PUB",
        SocketType::SUB => "SUB",
        SocketType::REQ => "REQ",
        SocketType::REP => "REP",
        SocketType::DEALER => "DEALER",
        SocketType::ROUTER => "ROUTER",
        SocketType::PULL => "PULL",
        SocketType::PUSH => "PUSH",
        SocketType::XPUB => "XPUB",
        SocketType::XSUB => "XSUB",
        SocketType::STREAM => "STREAM",
    }
}

fn list(types: &[SocketType]) -> String {
    let names: Vec<_> = types.iter().map(|&t| type_name(t)).collect();
    names.join(", ")
}

fn parse_type(s: &str) -> Result<SocketType, String> {
    ALL_TYPES
        .iter()
        .copied()
        .find(|&t| type_name(t).eq_ignore_ascii_case(s))
        .ok_or_else(|| format!("unknown socket type (one of {})", list(ALL_TYPES)))
}

/// Whether a socket of this type can receive messages.
pub(crate) fn can_receive(t: SocketType) -> bool {
    !matches!(t, SocketType::PUB | SocketType::PUSH)
}

/// Whether a socket of this type can send messages.
pub(crate) fn can_send(t: SocketType) -> bool {
    !matches!(t, SocketType::SUB | SocketType::PULL)
}

fn parse_recv_type(s: &str) -> Result<SocketType, String> {
    parse_type_for(s, "recv", RECV_TYPES, can_receive, "only sends", "send")
}

fn parse_send_type(s: &str) -> Result<SocketType, String> {
    parse_type_for(s, "send", SEND_TYPES, can_send, "only receives", "recv")
}

/// A socket type that command `command` takes (one of `allowed`); a type that cannot do
/// what the command needs (`capable` false) is told which command to use instead.
fn parse_type_for(
    s: &str,
    command: &str,
    allowed: &[SocketType],
    capable: fn(SocketType) -> bool,
    only: &str,
    other: &str,
) -> Result<SocketType, String> {
    let t = parse_type(s)?;
    if allowed.contains(&t) {
        return Ok(t);
    }
    Err(if !capable(t) {
        format!(
            "{} {only} (use `zmqio {other} --type {}`); {command} takes {}",
            type_name(t),
            type_name(t),
            list(allowed)
        )
    } else {
        format!("{command} takes {}", list(allowed))
    })
}

fn parse_any_type(s: &str) -> Result<SocketType, String> {
    parse_type(s)
}

/// The transports libzmq knows; anything else is refused before a socket is made.
const TRANSPORTS: &[&str] = &[
    "tcp", "ipc", "inproc", "pgm", "epgm", "tipc", "vmci", "udp", "ws", "wss", "norm",
];

/// Checks the shape `TRANSPORT://ADDRESS`; libzmq checks the address on bind or connect.
pub(crate) fn parse_endpoint(s: &str) -> Result<String, String> {
    let Some((scheme, address)) = s.split_once("://") else {
        return Err("expected TRANSPORT://ADDRESS, e.g. tcp://127.0.0.1:5555".into());
    };
    if !TRANSPORTS.contains(&scheme) {
        return Err(format!(
            "unknown transport '{scheme}' (one of {})",
            TRANSPORTS.join(", ")
        ));
    }
    if address.is_empty() {
        return Err(format!("no address after {scheme}://"));
    }
    if s.contains('\0') {
        return Err("contains a NUL character".into());
    }
    Ok(s.to_owned())
}

fn parse_key(s: &str) -> Result<Z85Key, String> {
    Z85Key::parse(s)
}

/// The longest PLAIN user name, password or ZAP domain libzmq takes, in bytes.
const MAX_NAME: usize = 255;

/// `USER:PASS`, split at the first colon.
pub(crate) fn parse_plain(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((user, pass)) if !user.is_empty() => {
            if pass.is_empty() {
                // libzmq refuses an empty PLAIN password (ZMQ_PLAIN_PASSWORD: EINVAL).
                return Err("the password is empty; PLAIN needs one".into());
            }
            if user.len() > MAX_NAME || pass.len() > MAX_NAME {
                return Err(format!(
                    "the user name and the password are at most {MAX_NAME} bytes each"
                ));
            }
            Ok((user.to_owned(), pass.to_owned()))
        }
        _ => Err("expected USER:PASS with a non-empty user".into()),
    }
}

fn parse_zap_domain(s: &str) -> Result<String, String> {
    if s.len() > MAX_NAME {
        return Err(format!("a ZAP domain is at most {MAX_NAME} bytes"));
    }
    Ok(s.to_owned())
}

fn parse_side(s: &str) -> Result<Side, String> {
    let Some((ty, rest)) = s.split_once(':') else {
        return Err("expected TYPE:ENDPOINT, e.g. ROUTER:tcp://127.0.0.1:5559".into());
    };
    let socket_type = parse_type(ty)?;
    if !PROXY_TYPES.contains(&socket_type) {
        return Err(format!(
            "{} cannot be proxied (one of {})",
            type_name(socket_type),
            list(PROXY_TYPES)
        ));
    }
    let (bind, ep) = match rest.as_bytes().first() {
        Some(b'@') => (true, &rest[1..]),
        Some(b'>') => (false, &rest[1..]),
        _ => (true, rest),
    };
    Ok(Side {
        socket_type,
        endpoint: parse_endpoint(ep)?,
        bind,
    })
}

fn parse_capture(s: &str) -> Result<(String, bool), String> {
    match s.as_bytes().first() {
        Some(b'>') => Ok((parse_endpoint(&s[1..])?, false)),
        Some(b'@') => Ok((parse_endpoint(&s[1..])?, true)),
        _ => Ok((parse_endpoint(s)?, true)),
    }
}

/// The largest `zmqio bench --size`: the payload is allocated once, and libzmq holds a few
/// messages of it in flight.
const MAX_BENCH_SIZE: usize = 256 << 20;

fn parse_bench_size(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n <= MAX_BENCH_SIZE => Ok(n),
        _ => Err(format!("a size in bytes, 0 to {MAX_BENCH_SIZE} (256 MiB)")),
    }
}

fn parse_cert_name(s: &str) -> Result<String, String> {
    if s.is_empty() || s.contains('/') || s == "." || s == ".." {
        return Err("a file name without '/'".into());
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_types_parse_case_insensitively_and_by_direction() {
        assert_eq!(parse_recv_type("sub").unwrap(), SocketType::SUB);
        assert_eq!(parse_send_type("Push").unwrap(), SocketType::PUSH);
        let e = parse_send_type("SUB").unwrap_err();
        assert!(e.contains("only receives"), "{e}");
        let e = parse_recv_type("PUSH").unwrap_err();
        assert!(e.contains("only sends"), "{e}");
        assert!(parse_recv_type("REQ").unwrap_err().contains("recv takes"));
        assert!(parse_any_type("SUBB")
            .unwrap_err()
            .contains("unknown socket type"));
    }

    #[test]
    fn endpoints_need_a_known_transport_and_an_address() {
        assert!(parse_endpoint("tcp://127.0.0.1:*").is_ok());
        assert!(parse_endpoint("ipc:///tmp/x").is_ok());
        assert!(parse_endpoint("127.0.0.1:5555").is_err());
        assert!(parse_endpoint("foo://x").is_err());
        assert!(parse_endpoint("tcp://").is_err());
    }

    #[test]
    fn proxy_sides_bind_by_default() {
        let s = parse_side("router:tcp://127.0.0.1:1").unwrap();
        assert_eq!(s.socket_type, SocketType::ROUTER);
        assert!(s.bind);
        assert_eq!(s.endpoint, "tcp://127.0.0.1:1");
        let s = parse_side("DEALER:>tcp://127.0.0.1:2").unwrap();
        assert!(!s.bind);
        assert_eq!(s.endpoint, "tcp://127.0.0.1:2");
        assert!(parse_side("REQ:tcp://127.0.0.1:1").is_err());
        assert!(parse_side("tcp://127.0.0.1:1").is_err());
    }

    #[test]
    fn plain_credentials_split_at_the_first_colon() {
        assert_eq!(
            parse_plain("admin:se:cret").unwrap(),
            ("admin".to_owned(), "se:cret".to_owned())
        );
        assert!(parse_plain(":x").is_err());
        assert!(parse_plain("alice:")
            .unwrap_err()
            .contains("password is empty"));
        assert!(parse_plain("nopass").is_err());
    }

    #[test]
    fn values_may_start_with_a_hyphen() {
        // Z85 has '-' in its alphabet: a key may start with one.
        let key = format!("-{}", &crate::zmqio::auth::z85_encode_key(&[0; 32])[1..]);
        let cli = Cli::try_parse_from([
            "zmqio",
            "recv",
            "--type",
            "REP",
            "--bind",
            "tcp://127.0.0.1:*",
            "--curve-server",
            "--curve-secret-key",
            &key,
            "--reply",
            "-x",
        ]);
        assert!(cli.is_ok(), "{:?}", cli.err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
