//! zmqio-bench: the same ZeroMQ workloads, in one process and one invocation, on raw blocking
//! libzmq (the ceiling), tmq, and zmqio's protocol and stream APIs on tokio (current-thread
//! and multi-thread), smol and async-std. Prints one table of medians with ratios to raw
//! libzmq; with T64 selected, a second table (workload X) compares `zmqio_core::proxy` with
//! libzmq's `zmq_proxy_steerable` forwarding T64 messages.
//!
//! ```text
//! cargo run --release -p zmqio-bench                  # the full run
//! cargo run --release -p zmqio-bench -- --quick       # fewer messages, under two minutes
//! cargo run --release -p zmqio-bench -- --reps 5 --only T64,L --variants raw,tokio-ct
//! ```

mod common;
mod flavor;
mod floor;
mod proxy_bench;
mod raw;
mod tmq_bench;
mod zmqio_bench;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{percentiles, PubResult, Tput};
use flavor::{AsyncStd, Smol, TokioCt, TokioMt};
use zmqio_bench::{Api, Bench, Layout};

/// The workloads, in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    T64,
    T1024,
    T2F,
    L,
    P,
    M,
}

const WORKLOADS: [Workload; 6] = [
    Workload::T64,
    Workload::T1024,
    Workload::T2F,
    Workload::L,
    Workload::P,
    Workload::M,
];

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Self::T64 => "T64",
            Self::T1024 => "T1024",
            Self::T2F => "T2F",
            Self::L => "L",
            Self::P => "P",
            Self::M => "M",
        }
    }
}

/// Who runs a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Impl {
    /// Blocking `zmq` on two std threads, with this many I/O threads.
    Raw(i32),
    /// tmq on tokio current-thread.
    Tmq,
    /// zmqio on a runtime.
    Zmqio(Rt, Api),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rt {
    TokioCt,
    TokioMt,
    Smol,
    AsyncStd,
}

struct Variant {
    id: &'static str,
    label: &'static str,
    imp: Impl,
}

const VARIANTS: &[Variant] = &[
    Variant {
        id: "raw-1io",
        label: "raw zmq, 1 I/O thread",
        imp: Impl::Raw(1),
    },
    Variant {
        id: "raw-2io",
        label: "raw zmq, 2 I/O threads",
        imp: Impl::Raw(2),
    },
    Variant {
        id: "tmq",
        label: "tmq 0.5, tokio current-thread",
        imp: Impl::Tmq,
    },
    Variant {
        id: "proto-tokio-ct",
        label: "zmqio protocol, tokio current-thread",
        imp: Impl::Zmqio(Rt::TokioCt, Api::Protocol),
    },
    Variant {
        id: "proto-tokio-mt",
        label: "zmqio protocol, tokio multi-thread",
        imp: Impl::Zmqio(Rt::TokioMt, Api::Protocol),
    },
    Variant {
        id: "proto-smol",
        label: "zmqio protocol, smol",
        imp: Impl::Zmqio(Rt::Smol, Api::Protocol),
    },
    Variant {
        id: "proto-async-std",
        label: "zmqio protocol, async-std",
        imp: Impl::Zmqio(Rt::AsyncStd, Api::Protocol),
    },
    Variant {
        id: "stream-tokio-ct",
        label: "zmqio stream, tokio current-thread",
        imp: Impl::Zmqio(Rt::TokioCt, Api::Stream),
    },
    Variant {
        id: "many-tokio-ct",
        label: "zmqio stream in batches of 64, tokio current-thread",
        imp: Impl::Zmqio(Rt::TokioCt, Api::StreamMany),
    },
    Variant {
        id: "stream-tokio-mt",
        label: "zmqio stream, tokio multi-thread",
        imp: Impl::Zmqio(Rt::TokioMt, Api::Stream),
    },
    Variant {
        id: "stream-smol",
        label: "zmqio stream, smol",
        imp: Impl::Zmqio(Rt::Smol, Api::Stream),
    },
    Variant {
        id: "stream-async-std",
        label: "zmqio stream, async-std",
        imp: Impl::Zmqio(Rt::AsyncStd, Api::Stream),
    },
];

/// Message counts of one run.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    t64: u64,
    t1024: u64,
    t2f: u64,
    l: u64,
    p: u64,
    m_bytes: u64,
}

const FULL: Sizes = Sizes {
    t64: 1_000_000,
    t1024: 1_000_000,
    t2f: 1_000_000,
    l: 20_000,
    p: 1_000_000,
    m_bytes: 1 << 30,
};

const QUICK: Sizes = Sizes {
    t64: 100_000,
    t1024: 50_000,
    t2f: 100_000,
    l: 2_000,
    p: 100_000,
    m_bytes: 64 << 20,
};

struct Opts {
    sizes: Sizes,
    quick: bool,
    reps: usize,
    workloads: Vec<Workload>,
    variants: Vec<&'static Variant>,
    io_threads: i32,
    layout: Layout,
}

const USAGE: &str = "\
usage: zmqio-bench [--quick] [--reps N] [--only T64,T1024,T2F,L,P,M] [--variants ID,..]
                   [--io-threads N] [--thread-per-socket] [--no-raw]

  --quick        fewer messages (the whole run takes well under a minute)
  --reps N       repetitions per cell; the table shows medians (default 3)
  --only LIST    workloads to run (default: all)
  --variants IDS variants to run, by id or id prefix (default: all); raw-1io and raw-2io
                 always run for the workloads chosen, as the ratios need them
  --io-threads N libzmq I/O threads of the contexts tmq and zmqio use (default 1)
  --thread-per-socket
                 T64, T1024, T2F and L: run each zmqio socket on its own runtime on its own
                 thread, as the raw rows run each socket on its own thread (default: both
                 sockets on one runtime, as tasks)
  --no-raw       skip the raw rows (for profiling one variant; no ratios then)

       zmqio-bench --instr WORKLOAD ID COUNT [--io-threads N] [--thread-per-socket]

  --instr        run exactly COUNT messages (round trips for L) of one workload (T64, T1024,
                 T2F, L or P) on one variant, once, and exit; no table. The unit that
                 scripts/instructions.sh counts instructions of under callgrind.

variant ids: raw-1io raw-2io tmq proto-{tokio-ct,tokio-mt,smol,async-std}
             stream-{tokio-ct,tokio-mt,smol,async-std} many-tokio-ct
             (many: the stream API in batches of 64 in T64/T1024/T2F, write_many +
             drain to send, read_many to receive; its other workloads run as stream)
             floor-1io, with --instr only (T64, T2F): raw libzmq plus only the
             work zmqio's API implies per message (Multipart in, Bytes out, a lock, a
             queue, a callback), none of its machinery; see src/floor.rs";

fn parse_args() -> Result<Opts, String> {
    let mut args = std::env::args().skip(1);
    let mut quick = false;
    let mut reps = 3;
    let mut workloads = WORKLOADS.to_vec();
    let mut variant_filter: Option<Vec<String>> = None;
    let mut io_threads = 1;
    let mut no_raw = false;
    let mut layout = Layout::Shared;
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--quick" => quick = true,
            "--reps" => {
                reps = value()?.parse().map_err(|e| format!("--reps: {e}"))?;
                if reps == 0 {
                    return Err("--reps must be at least 1".into());
                }
            }
            "--only" => {
                let list = value()?;
                workloads = list
                    .split(',')
                    .map(|w| {
                        WORKLOADS
                            .into_iter()
                            .find(|k| k.name().eq_ignore_ascii_case(w.trim()))
                            .ok_or_else(|| format!("unknown workload {w}"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--variants" => {
                variant_filter = Some(value()?.split(',').map(|s| s.trim().to_owned()).collect())
            }
            "--io-threads" => {
                io_threads = value()?.parse().map_err(|e| format!("--io-threads: {e}"))?
            }
            "--no-raw" => no_raw = true,
            "--thread-per-socket" => layout = Layout::ThreadPerSocket,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    let variants = VARIANTS
        .iter()
        .filter(|v| {
            (matches!(v.imp, Impl::Raw(_)) && !no_raw)
                || variant_filter
                    .as_ref()
                    .map_or(true, |f| f.iter().any(|p| v.id.starts_with(p.as_str())))
        })
        .collect();
    Ok(Opts {
        sizes: if quick { QUICK } else { FULL },
        quick,
        reps,
        workloads,
        variants,
        io_threads,
        layout,
    })
}

/// One measured value.
#[derive(Debug, Clone, Copy)]
enum Sample {
    /// Messages per second.
    Rate(f64),
    /// Round trip p50 and p99, microseconds.
    Latency(f64, f64),
    /// Data messages received per second, and received/sent counts.
    Pub(f64, u64, u64),
    /// Peak resident set, KiB.
    Mem(u64),
}

impl Sample {
    /// The number the median and the ratio are taken of.
    fn key(&self) -> f64 {
        match *self {
            Self::Rate(r) | Self::Pub(r, _, _) => r,
            Self::Latency(p50, _) => p50,
            Self::Mem(kib) => kib as f64,
        }
    }

    fn higher_is_better(&self) -> bool {
        matches!(self, Self::Rate(_) | Self::Pub(..))
    }

    fn show(&self) -> String {
        match *self {
            Self::Rate(r) | Self::Pub(r, _, _) => rate(r),
            Self::Latency(p50, p99) => format!("{p50:.0}/{p99:.0} µs"),
            Self::Mem(kib) => format!("{:.0} MiB", kib as f64 / 1024.0),
        }
    }
}

fn rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M/s", r / 1e6)
    } else {
        format!("{:.0} k/s", r / 1e3)
    }
}

fn tput_spec(w: Workload, s: &Sizes) -> Tput {
    match w {
        Workload::T64 => Tput {
            count: s.t64,
            frames: 1,
            frame_len: 64,
        },
        Workload::T1024 => Tput {
            count: s.t1024,
            frames: 1,
            frame_len: 1024,
        },
        _ => Tput {
            count: s.t2f,
            frames: 2,
            frame_len: 64,
        },
    }
}

fn throughput(imp: Impl, io: i32, spec: Tput, layout: Layout) -> Duration {
    match imp {
        Impl::Raw(n) => raw::throughput(n, spec),
        Impl::Tmq => tmq_bench::throughput(io, spec),
        Impl::Zmqio(rt, api) => match rt {
            Rt::TokioCt => Bench::<TokioCt>::throughput(api, io, spec, layout),
            Rt::TokioMt => Bench::<TokioMt>::throughput(api, io, spec, layout),
            Rt::Smol => Bench::<Smol>::throughput(api, io, spec, layout),
            Rt::AsyncStd => Bench::<AsyncStd>::throughput(api, io, spec, layout),
        },
    }
}

fn latency(imp: Impl, io: i32, n: u64, layout: Layout) -> Vec<u64> {
    match imp {
        Impl::Raw(k) => raw::latency(k, n),
        Impl::Tmq => tmq_bench::latency(io, n),
        Impl::Zmqio(rt, api) => match rt {
            Rt::TokioCt => Bench::<TokioCt>::latency(api, io, n, layout),
            Rt::TokioMt => Bench::<TokioMt>::latency(api, io, n, layout),
            Rt::Smol => Bench::<Smol>::latency(api, io, n, layout),
            Rt::AsyncStd => Bench::<AsyncStd>::latency(api, io, n, layout),
        },
    }
}

fn pubsub(imp: Impl, io: i32, n: u64) -> PubResult {
    match imp {
        Impl::Raw(k) => raw::pubsub(k, n),
        Impl::Tmq => tmq_bench::pubsub(io, n),
        Impl::Zmqio(rt, api) => match rt {
            Rt::TokioCt => Bench::<TokioCt>::pubsub(api, io, n),
            Rt::TokioMt => Bench::<TokioMt>::pubsub(api, io, n),
            Rt::Smol => Bench::<Smol>::pubsub(api, io, n),
            Rt::AsyncStd => Bench::<AsyncStd>::pubsub(api, io, n),
        },
    }
}

fn memory(imp: Impl, io: i32, bytes: u64) {
    match imp {
        Impl::Raw(k) => raw::memory(k, bytes),
        Impl::Tmq => tmq_bench::memory(io, bytes),
        Impl::Zmqio(rt, api) => match rt {
            Rt::TokioCt => Bench::<TokioCt>::memory(api, io, bytes),
            Rt::TokioMt => Bench::<TokioMt>::memory(api, io, bytes),
            Rt::Smol => Bench::<Smol>::memory(api, io, bytes),
            Rt::AsyncStd => Bench::<AsyncStd>::memory(api, io, bytes),
        },
    }
}

/// A `/proc/self/status` field, in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The hidden child mode of workload M: `--child-m ID BYTES IO_THREADS`. Runs one variant and
/// prints its peak RSS, so each variant's peak is its own.
fn child_m(args: &[String]) -> ! {
    let id = &args[0];
    let bytes: u64 = args[1].parse().expect("bytes");
    let io: i32 = args[2].parse().expect("io threads");
    let v = VARIANTS.iter().find(|v| v.id == id).expect("variant");
    let base = status_kib("VmRSS:");
    memory(v.imp, io, bytes);
    println!("PEAK_KIB {} BASE_KIB {}", status_kib("VmHWM:"), base);
    std::process::exit(0);
}

/// The `--instr WORKLOAD ID COUNT [--io-threads N]` mode: one run of one workload on one
/// variant, exactly `COUNT` messages, then exit. Everything a run does besides the messages
/// (runtime, context, bind, connect, close) is the same for every `COUNT`, so the difference
/// between two counts is the cost of the messages alone.
fn instr(args: &[String]) -> Result<(), String> {
    let [w, id, count, rest @ ..] = args else {
        return Err(format!("--instr needs WORKLOAD ID COUNT\n{USAGE}"));
    };
    let w = WORKLOADS
        .into_iter()
        .find(|k| k.name().eq_ignore_ascii_case(w))
        .ok_or_else(|| format!("unknown workload {w}"))?;
    let floor = id == FLOOR;
    let v = VARIANTS.iter().find(|v| v.id == id);
    if v.is_none() && !floor {
        return Err(format!("unknown variant {id}"));
    }
    let count: u64 = count.parse().map_err(|e| format!("COUNT: {e}"))?;
    if count == 0 {
        return Err("COUNT must be at least 1".into());
    }
    let mut io = 1;
    let mut layout = Layout::Shared;
    let mut rest = rest.iter();
    while let Some(flag) = rest.next() {
        match flag.as_str() {
            "--io-threads" => {
                let n = rest.next().ok_or("--io-threads needs a value")?;
                io = n.parse().map_err(|e| format!("--io-threads: {e}"))?;
            }
            "--thread-per-socket" => layout = Layout::ThreadPerSocket,
            _ => return Err(format!("unexpected argument {flag}\n{USAGE}")),
        }
    }
    let Some(v) = v.filter(|_| !floor) else {
        if !matches!(w, Workload::T64 | Workload::T2F) {
            return Err(format!("{FLOOR} runs T64 or T2F"));
        }
        if io != 1 || layout != Layout::Shared {
            return Err(format!(
                "{FLOOR} runs with one I/O thread and its own thread per socket: \
                 no --io-threads or --thread-per-socket"
            ));
        }
        let started = Instant::now();
        floor::throughput(
            io,
            Tput {
                count,
                ..tput_spec(w, &QUICK)
            },
        );
        report(w, FLOOR, count, io, started);
        return Ok(());
    };
    let started = Instant::now();
    match w {
        Workload::T64 | Workload::T1024 | Workload::T2F => {
            let spec = Tput {
                count,
                ..tput_spec(w, &QUICK)
            };
            throughput(v.imp, io, spec, layout);
        }
        Workload::L => {
            latency(v.imp, io, count, layout);
        }
        Workload::P => {
            let r = pubsub(v.imp, io, count);
            if r.received != count / 2 + count % 2 {
                return Err(format!("P: received {} of {}", r.received, count));
            }
        }
        Workload::M => return Err("--instr runs T64, T1024, T2F, L or P".into()),
    }
    report(w, v.id, count, io, started);
    Ok(())
}

/// The id of [`floor`]'s variant, which only `--instr` runs (it is a measure of what the
/// API costs, not an implementation to compare in the tables).
const FLOOR: &str = "floor-1io";

/// The one line `--instr` prints when done.
fn report(w: Workload, id: &str, count: u64, io: i32, started: Instant) {
    let (maj, min, pat) = zmq::version();
    eprintln!(
        "{} {id} {count}: {:.2} s, libzmq {maj}.{min}.{pat}, {io} I/O thread(s)",
        w.name(),
        started.elapsed().as_secs_f64()
    );
}

fn run_child_m(id: &str, bytes: u64, io: i32) -> Result<u64, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .args(["--child-m", id, &bytes.to_string(), &io.to_string()])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "child failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .skip_while(|w| *w != "PEAK_KIB")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no peak in child output: {text}"))
}

fn measure(w: Workload, imp: Impl, id: &str, opts: &Opts) -> Result<Sample, String> {
    let s = &opts.sizes;
    let io = opts.io_threads;
    Ok(match w {
        Workload::T64 | Workload::T1024 | Workload::T2F => {
            let spec = tput_spec(w, s);
            Sample::Rate(spec.count as f64 / throughput(imp, io, spec, opts.layout).as_secs_f64())
        }
        Workload::L => {
            let (p50, p99) = percentiles(latency(imp, io, s.l, opts.layout));
            Sample::Latency(p50, p99)
        }
        Workload::P => {
            let r = pubsub(imp, io, s.p);
            Sample::Pub(
                r.received as f64 / r.elapsed.as_secs_f64(),
                r.received,
                r.sent,
            )
        }
        Workload::M => Sample::Mem(run_child_m(id, s.m_bytes, io)?),
    })
}

fn median(mut v: Vec<Sample>) -> Sample {
    v.sort_by(|a, b| a.key().total_cmp(&b.key()));
    v[v.len() / 2]
}

fn first_line(path: &str, prefix: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.split(':').nth(1))
            .map(|v| v.trim().to_owned())
    })
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "?".into())
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("--child-m") {
        child_m(&argv[2..]);
    }
    if argv.get(1).map(String::as_str) == Some("--instr") {
        if let Err(e) = instr(&argv[2..]) {
            eprintln!("{e}");
            std::process::exit(2);
        }
        return;
    }
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) if e == USAGE => {
            println!("{e}");
            std::process::exit(0);
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let started = Instant::now();
    let (maj, min, pat) = zmq::version();
    println!("# zmqio-bench");
    println!();
    println!(
        "machine: {}, {} cores, Linux {}",
        first_line("/proc/cpuinfo", "model name").unwrap_or_else(|| "?".into()),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        read_trim("/proc/sys/kernel/osrelease"),
    );
    println!("load average at start: {}", read_trim("/proc/loadavg"));
    println!(
        "libzmq {maj}.{min}.{pat}; {}; medians of {} repetitions; tmq and zmqio contexts: {} I/O thread(s)",
        if opts.quick { "--quick sizes" } else { "full sizes" },
        opts.reps,
        opts.io_threads
    );
    println!(
        "T and L layout of zmqio's two sockets: {}",
        match opts.layout {
            Layout::Shared => "both on one runtime, as tasks",
            Layout::ThreadPerSocket =>
                "each on its own runtime on its own thread (--thread-per-socket), as raw's",
        }
    );
    let s = &opts.sizes;
    println!(
        "T64: {} x 64 B PUSH->PULL; T1024: {} x 1 KiB; T2F: {} x 2 frames of 64 B; \
         L: {} REQ/REP round trips of 64 B (p50/p99); P: {} PUB->SUB 64 B messages, half \
         matching the subscribed prefix (received data msg/s); M: peak RSS while PUSH writes \
         {} MiB in 8 KiB messages to a PULL that sleeps 1 ms every 64 messages (child process \
         per variant, default watermarks). All over tcp://127.0.0.1.",
        s.t64,
        s.t1024,
        s.t2f,
        s.l,
        s.p,
        s.m_bytes >> 20
    );
    println!();

    // results[variant][workload]
    let mut results: Vec<Vec<Option<Result<Sample, String>>>> =
        vec![vec![None; WORKLOADS.len()]; opts.variants.len()];
    // Repetitions are interleaved (rep 1 of every variant, then rep 2, ...) so a burst of
    // load from elsewhere on the machine spreads over the variants instead of hitting one.
    for &w in &opts.workloads {
        let wi = WORKLOADS.iter().position(|k| *k == w).expect("workload");
        let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); opts.variants.len()];
        let mut failed: Vec<Option<String>> = vec![None; opts.variants.len()];
        for rep in 0..opts.reps {
            for (vi, v) in opts.variants.iter().enumerate() {
                if failed[vi].is_some() {
                    continue;
                }
                match measure(w, v.imp, v.id, &opts) {
                    Ok(sample) => {
                        eprintln!(
                            "{:<5} {:<17} rep {}: {}",
                            w.name(),
                            v.id,
                            rep + 1,
                            sample.show()
                        );
                        samples[vi].push(sample);
                    }
                    Err(e) => {
                        eprintln!("{:<5} {:<17} rep {}: FAILED {e}", w.name(), v.id, rep + 1);
                        failed[vi] = Some(e);
                    }
                }
            }
        }
        for (vi, (s, f)) in samples.into_iter().zip(failed).enumerate() {
            results[vi][wi] = Some(match f {
                Some(e) => Err(e),
                None => Ok(median(s)),
            });
        }
    }

    // The ceiling of each workload: the better of the two raw rows.
    let ceiling: Vec<Option<Sample>> = (0..WORKLOADS.len())
        .map(|wi| {
            let raws = opts
                .variants
                .iter()
                .zip(&results)
                .filter(|(v, _)| matches!(v.imp, Impl::Raw(_)))
                .filter_map(|(_, r)| r[wi].as_ref().and_then(|x| x.as_ref().ok()).copied());
            raws.reduce(|a, b| {
                let better = if a.higher_is_better() {
                    b.key() > a.key()
                } else {
                    b.key() < a.key()
                };
                if better {
                    b
                } else {
                    a
                }
            })
        })
        .collect();

    let chosen: Vec<usize> = opts
        .workloads
        .iter()
        .map(|w| WORKLOADS.iter().position(|k| k == w).expect("workload"))
        .collect();
    let mut header = String::from("| variant |");
    let mut rule = String::from("|---|");
    for &wi in &chosen {
        let w = WORKLOADS[wi];
        header.push_str(&format!(" {} | ratio |", w.name()));
        rule.push_str("---:|---:|");
        if w == Workload::P {
            header.push_str(" P recv/sent |");
            rule.push_str("---:|");
        }
    }
    println!("{header}");
    println!("{rule}");
    for (vi, v) in opts.variants.iter().enumerate() {
        let mut line = format!("| {} |", v.label);
        for &wi in &chosen {
            match &results[vi][wi] {
                Some(Ok(sample)) => {
                    let ratio = ceiling[wi]
                        .map(|c| format!("{:.2}", sample.key() / c.key()))
                        .unwrap_or_else(|| "-".into());
                    line.push_str(&format!(" {} | {} |", sample.show(), ratio));
                    if let Sample::Pub(_, received, sent) = sample {
                        line.push_str(&format!(" {received}/{sent} |"));
                    }
                }
                Some(Err(_)) => {
                    line.push_str(" failed | - |");
                    if WORKLOADS[wi] == Workload::P {
                        line.push_str(" - |");
                    }
                }
                None => line.push_str(" - | - |"),
            }
        }
        println!("{line}");
    }
    println!();
    println!(
        "ratio: to the better raw row (throughput: higher is better; L p50 and M peak: lower \
         is better). P recv/sent: data messages received / published (half are published to \
         the unsubscribed prefix, so {} of {} is everything).",
        s.p / 2,
        s.p
    );
    if opts.workloads.contains(&Workload::T64) {
        proxy_table(&opts);
    }
    println!("load average at end: {}", read_trim("/proc/loadavg"));
    println!("total time: {:.0} s", started.elapsed().as_secs_f64());
}

/// Workload X: T64 messages forwarded through a proxy; libzmq's `zmq_proxy_steerable` on a
/// thread against `zmqio_core::proxy::Proxy` on each runtime. Medians of `reps` runs.
fn proxy_table(opts: &Opts) {
    let count = opts.sizes.t64;
    let median = |run: &dyn Fn(u64) -> Duration| {
        let mut rates: Vec<f64> = (0..opts.reps)
            .map(|_| count as f64 / run(count).as_secs_f64())
            .collect();
        rates.sort_by(f64::total_cmp);
        rates[rates.len() / 2]
    };
    println!(
        "X: {count} T64 messages forwarded through a proxy (PUSH -> PULL|proxy|PUSH -> PULL, tcp)"
    );
    println!();
    println!("| proxy | rate | ratio |");
    println!("| --- | --- | --- |");
    let raw = median(&proxy_bench::raw);
    println!(
        "| libzmq zmq_proxy_steerable, own thread | {} | 1.00 |",
        rate(raw)
    );
    let rows: [(&str, &dyn Fn(u64) -> Duration); 4] = [
        (
            "zmqio Proxy, tokio current-thread",
            &proxy_bench::zmqio::<TokioCt>,
        ),
        (
            "zmqio Proxy, tokio multi-thread",
            &proxy_bench::zmqio::<TokioMt>,
        ),
        ("zmqio Proxy, smol", &proxy_bench::zmqio::<Smol>),
        ("zmqio Proxy, async-std", &proxy_bench::zmqio::<AsyncStd>),
    ];
    for (label, run) in rows {
        let r = median(run);
        println!("| {label} | {} | {:.2} |", rate(r), r / raw);
    }
    println!();
}
