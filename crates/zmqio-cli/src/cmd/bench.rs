//! `zmqio bench`: throughput or latency of two sockets over loopback, in this process.
//!
//! The workloads follow zmqio-bench's stream rows: PUSH->PULL and PUB->SUB write and drain
//! each message and count the time from the first write to the last read; REQ/REP times
//! each round trip. Sockets have LINGER 0, PUB/SUB no HWM (nothing dropped), in a context
//! of their own.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use bytes::Bytes;
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::{BenchArgs, BenchTransport, Workload};
use crate::error::{failed, CliError, CliResult};
use crate::output::Out;
use crate::socket::interrupted;
use crate::zmqio::{self, zmq, zmq::SocketType, ZmqStream};

/// Runs of at least this many messages get a progress bar (on a terminal).
const LONG_RUN: u64 = 10_000;

/// Runs `zmqio bench`.
pub(crate) async fn run(a: BenchArgs) -> CliResult {
    let ctx = zmq::Context::new();
    let bar = progress(a.count);
    let result = tokio::select! {
        r = workload(&ctx, &a, &bar) => r,
        () = interrupted() => {
            bar.finish_and_clear();
            // The sockets may still be open: the context is let go off the runtime, unwaited.
            tokio::task::spawn_blocking(move || drop(ctx));
            return Err(CliError::Dropped("bench: interrupted".into()));
        }
    };
    bar.finish_and_clear();
    // Every socket has LINGER 0: terminating the context returns at once.
    tokio::task::spawn_blocking(move || drop(ctx))
        .await
        .map_err(|e| failed(format!("closing the context: {e}")))?;
    let report = result?;
    // A closed pipe (`zmqio bench ... | head -0`) is not an error: nobody reads the report.
    Out::new().line(&report)?;
    Ok(())
}

fn progress(count: u64) -> ProgressBar {
    if count < LONG_RUN || !std::io::stdout().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(count);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} msgs, {per_sec}, eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

async fn workload(ctx: &zmq::Context, a: &BenchArgs, bar: &ProgressBar) -> CliResult<String> {
    let endpoint = match a.transport {
        BenchTransport::Tcp => "tcp://127.0.0.1:*".to_owned(),
        BenchTransport::Inproc => format!("inproc://zmqio-bench-{}", std::process::id()),
    };
    let transport = match a.transport {
        BenchTransport::Tcp => "tcp",
        BenchTransport::Inproc => "inproc",
    };
    let payload = Bytes::from(vec![b'x'; a.size]);
    match a.workload {
        Workload::PushPull => {
            let (pull, push) = pair(ctx, SocketType::PULL, SocketType::PUSH, &endpoint).await?;
            let elapsed = throughput(push, pull, payload, a.count, bar, false).await?;
            Ok(rates("push-pull", transport, a, elapsed))
        }
        Workload::PubSub => {
            let (sub, publisher) = pair(ctx, SocketType::SUB, SocketType::PUB, &endpoint).await?;
            sub.transport().subscribe(b"").map_err(bench_error)?;
            let elapsed = throughput(publisher, sub, payload, a.count, bar, true).await?;
            Ok(rates("pub-sub", transport, a, elapsed))
        }
        Workload::ReqRep => {
            let (rep, req) = pair(ctx, SocketType::REP, SocketType::REQ, &endpoint).await?;
            let mut samples = latency(req, rep, payload, a.count, bar).await?;
            samples.sort_unstable();
            let at = |q: usize| samples[(samples.len() * q / 100).min(samples.len() - 1)];
            let total: Duration = samples.iter().sum();
            Ok(format!(
                "req-rep over {transport}: {} round trips of {} B in {:.3} s\n\
                 p50 {:.1} µs, p99 {:.1} µs, {:.0} round trips/s",
                a.count,
                a.size,
                total.as_secs_f64(),
                at(50).as_secs_f64() * 1e6,
                at(99).as_secs_f64() * 1e6,
                a.count as f64 / total.as_secs_f64()
            ))
        }
    }
}

fn bench_error(e: zmqio::Error) -> CliError {
    failed(format!("bench: {e}"))
}

fn rates(name: &str, transport: &str, a: &BenchArgs, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let per_sec = a.count as f64 / secs;
    format!(
        "{name} over {transport}: {} messages of {} B in {secs:.3} s\n\
         {per_sec:.0} msgs/s, {:.1} MB/s",
        a.count,
        a.size,
        per_sec * a.size as f64 / 1e6
    )
}

/// A socket of type `server` bound to `endpoint`, and one of type `client` connected to it.
async fn pair(
    ctx: &zmq::Context,
    server: SocketType,
    client: SocketType,
    endpoint: &str,
) -> CliResult<(ZmqStream, ZmqStream)> {
    let socket = |ty| -> CliResult<zmq::Socket> {
        let s = ctx.socket(ty).map_err(|e| failed(format!("bench: {e}")))?;
        s.set_linger(0).map_err(|e| failed(format!("bench: {e}")))?;
        if matches!(ty, SocketType::PUB | SocketType::SUB) {
            s.set_sndhwm(0).map_err(|e| failed(format!("bench: {e}")))?;
            s.set_rcvhwm(0).map_err(|e| failed(format!("bench: {e}")))?;
        }
        Ok(s)
    };
    let server = zmqio::create_zmq_stream(server)
        .zmq_sock(socket(server)?)
        .context(ctx.clone())
        .bind(endpoint)
        .await
        .map_err(bench_error)?;
    let bound = server
        .transport()
        .bindings()
        .into_iter()
        .next()
        .ok_or_else(|| failed("bench: the bind left no endpoint"))?;
    let client = zmqio::create_zmq_stream(client)
        .zmq_sock(socket(client)?)
        .context(ctx.clone())
        .connect(bound)
        .await
        .map_err(bench_error)?;
    Ok((server, client))
}

/// Sends `count` messages and reads them; the time from the first send to the last read.
/// With `probe`, first sends probes until one arrives (a subscription takes a moment).
async fn throughput(
    sender: ZmqStream,
    mut receiver: ZmqStream,
    payload: Bytes,
    count: u64,
    bar: &ProgressBar,
    probe: bool,
) -> CliResult<Duration> {
    if probe {
        // The subscriber sees nothing sent before its subscription reached the publisher.
        let probe = Bytes::from_static(b"probe");
        loop {
            sender.write(probe.clone()).map_err(bench_error)?;
            let got = tokio::time::timeout(Duration::from_millis(10), receiver.read()).await;
            if let Ok(msg) = got {
                msg.map_err(bench_error)?;
                break;
            }
        }
        // Probes still in flight are read and skipped: only payload-sized messages count.
    }
    let start = Instant::now();
    let send = tokio::spawn(async move {
        for _ in 0..count {
            sender.write(payload.clone())?;
            sender.drain().await?;
        }
        Ok::<_, zmqio::Error>(sender)
    });
    let mut received = 0;
    while received < count {
        let msg = receiver.read().await.map_err(bench_error)?;
        if probe && msg.first().is_some_and(|f| &f[..] == b"probe") {
            continue;
        }
        received += 1;
        if received % 1024 == 0 {
            bar.set_position(received);
        }
    }
    let elapsed = start.elapsed();
    bar.set_position(count);
    let sender = send
        .await
        .map_err(|e| failed(format!("bench: {e}")))?
        .map_err(bench_error)?;
    sender.close();
    receiver.close();
    sender.transport().wait_closed().await;
    receiver.transport().wait_closed().await;
    Ok(elapsed)
}

/// `count` REQ/REP round trips; the time of each.
async fn latency(
    mut req: ZmqStream,
    mut rep: ZmqStream,
    payload: Bytes,
    count: u64,
    bar: &ProgressBar,
) -> CliResult<Vec<Duration>> {
    let echo = tokio::spawn(async move {
        for _ in 0..count {
            let msg = rep.read().await?;
            rep.write(msg)?;
        }
        Ok::<_, zmqio::Error>(rep)
    });
    // Room for the first million up front (16 MiB); a longer run grows as it goes.
    let mut samples = Vec::with_capacity(usize::try_from(count.min(1 << 20)).unwrap_or(0));
    for i in 0..count {
        let t0 = Instant::now();
        req.write(payload.clone()).map_err(bench_error)?;
        req.read().await.map_err(bench_error)?;
        samples.push(t0.elapsed());
        if i % 256 == 0 {
            bar.set_position(i);
        }
    }
    bar.set_position(count);
    let rep = echo
        .await
        .map_err(|e| failed(format!("bench: {e}")))?
        .map_err(bench_error)?;
    req.close();
    rep.close();
    req.transport().wait_closed().await;
    rep.transport().wait_closed().await;
    Ok(samples)
}
