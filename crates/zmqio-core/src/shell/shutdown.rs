//! Ending a program without losing what it wrote: [`shutdown`] and [`shutdown_context`],
//! the process-wide context, and the registry of live transports they need.
//!
//! libzmq sends in the background: a message `write` handed over (or queued in zmqio, to be
//! handed over) is still in libzmq's queues when `write` returns, and a process that exits
//! then loses it. Only `zmq_ctx_term` waits for those queues, honouring each socket's
//! `LINGER`, and it blocks, so it must not run on a runtime thread.
//!
//! # How a shutdown runs
//!
//! On a thread of its own (the returned future only waits for it, so it needs no timer and
//! keeps the caller's runtime free to run the drivers that flush):
//!
//! 1. finds every transport still open on the context, closes it gracefully, and takes back
//!    the context handle its backend holds (so that the last handle is the shutdown's own);
//! 2. waits until each has flushed its queue, lost its connection and closed its socket;
//!    a ZAP handler (an authenticator's transport, bound at `auth::ZAP_ENDPOINT`) is closed
//!    only after every other transport has finished: while a server flushes it still
//!    listens, and without a handler libzmq would admit any peer that connects meanwhile;
//! 3. drops the last handle of the context: `zmq_ctx_term` waits there until libzmq has sent
//!    what it holds or the sockets' `LINGER` expired. A socket that holds no handle (a
//!    *sentinel*) sees `ETERM` when that termination starts, which tells whether the handle
//!    dropped was indeed the last one.
//!
//! The registry is a list of weak references, touched when a transport starts and when a
//! shutdown runs: nothing on the path of a message.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crate::engine::ZmqBackend;
use crate::shell::driver::Shared;
use crate::types::endpoint::ZAP;
use crate::{Error, Result, ZmqTransport};

/// Ends the use of zmqio's process-wide context ([`default_context`](crate::default_context))
/// without losing what was written: closes every transport and stream on it, waits until
/// they have flushed their queues and closed their sockets, then terminates the context on a
/// thread of its own, which waits until libzmq has sent what it holds (or each socket's
/// `LINGER` expired). All of it within `limit`.
///
/// Call it at the end of a program (after the last `write`), and return from `main` once
/// it has resolved. It needs no particular runtime, only that the runtime the transports run
/// on keeps running meanwhile (await it there, rather than blocking a runtime thread on it).
///
/// Transports made in the process-wide context are closed gracefully (as by
/// [`ZmqTransport::close`]), so their protocols get `connection_lost(None)`. Sockets given
/// to a builder with `zmq_sock` and no `context()` are taken to be in the process-wide
/// context (as the socket monitor does).
///
/// # After a shutdown
///
/// zmqio makes a fresh process-wide context the next time it needs one: sockets created
/// after `shutdown` work as before, in the new context, and a later `shutdown` ends that
/// one. Handles of the old context that a program kept (from `default_context()`) are not
/// affected: the old context terminates only once they are dropped.
///
/// # Errors
///
/// - [`Error::TimedOut`] when `limit` passed first, saying what was still pending:
///   transports still flushing (a peer that never reads, for example), or the context still
///   terminating (libzmq still sending within `LINGER`), or still in use elsewhere (a
///   handle from `default_context()` or a socket made outside zmqio that is still alive).
///   The termination goes on in the background; the process may exit.
/// - [`Error::Io`] when no thread could be started for the work.
///
/// # Example
///
/// A program that writes and exits: without the shutdown, messages still in libzmq's queues
/// when `main` returns are lost. (The peer here is a plain `zmq` socket in a context of its
/// own.)
///
/// ```
/// # use std::future::Future;
/// # use std::pin::Pin;
/// # use std::sync::Arc;
/// # use std::task::{Context, Poll};
/// # use zmqio_core::runtime::{Readiness, Runtime, ZmqFd};
/// # struct ThreadPerTask;
/// # struct Ready(async_io::Async<ZmqFd>);
/// # impl Readiness for Ready {
/// #     fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
/// #         self.0.poll_readable(cx)
/// #     }
/// # }
/// # // SAFETY: the `Async` only polls the fd and deregisters it, unclosed, when dropped.
/// # unsafe impl Runtime for ThreadPerTask {
/// #     fn register(&self, fd: ZmqFd) -> std::io::Result<Box<dyn Readiness>> {
/// #         Ok(Box::new(Ready(async_io::Async::new_nonblocking(fd)?)))
/// #     }
/// #     fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) {
/// #         std::thread::spawn(move || async_io::block_on(future));
/// #     }
/// #     fn sleep(&self, d: std::time::Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
/// #         Box::pin(async move { async_io::Timer::after(d).await; })
/// #     }
/// # }
/// # let rt: Arc<dyn Runtime> = Arc::new(ThreadPerTask);
/// # let peer_ctx = zmq::Context::new();
/// # let peer = peer_ctx.socket(zmq::PULL).unwrap();
/// # peer.bind("tcp://127.0.0.1:*").unwrap();
/// # let endpoint = peer.get_last_endpoint().unwrap().unwrap();
/// # async_io::block_on(async {
/// use std::time::Duration;
///
/// // With an adapter: `zmqio_tokio::create_zmq_stream(zmq::PUSH)`, and so on.
/// let push = zmqio_core::StreamBuilder::new(rt, zmq::PUSH)
///     .connect(endpoint.as_str())
///     .await?;
/// for i in 0..1_000 {
///     push.write([i.to_string()])?;
/// }
/// zmqio_core::shutdown(Duration::from_secs(10)).await?; // everything is sent
/// # Ok::<(), zmqio_core::Error>(())
/// # })
/// # .unwrap();
/// # for i in 0..1_000 {
/// #     assert_eq!(peer.recv_string(0).unwrap().unwrap(), i.to_string());
/// # }
/// ```
pub async fn shutdown(limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    let taken = lock(&PROCESS).take();
    let Some(process) = taken else {
        // No socket was ever made in a process-wide context since the last shutdown.
        return Ok(());
    };
    run_on_thread(move |report| {
        end_context(process.ctx, Some(process.generation), deadline, report);
    })
    .await
}

/// Ends the use of a context given to builders with `context(ctx)`, without losing what was
/// written: closes every zmqio transport and stream on `ctx`, waits until they have flushed
/// their queues and closed their sockets, then terminates `ctx` on a thread of its own,
/// which waits until libzmq has sent what it holds (or each socket's `LINGER` expired). All
/// of it within `limit`.
///
/// The context terminates when its last handle is dropped, and `ctx` is meant to be the last
/// one: drop every other clone you kept, and close the sockets you made on it outside zmqio,
/// before calling this (or within `limit`). Giving the process-wide context here is the
/// same as [`shutdown`].
///
/// # Errors
///
/// As [`shutdown`]: [`Error::TimedOut`] saying what was still pending when `limit` passed
/// (including "still in use elsewhere" while other handles of `ctx` live), [`Error::Io`]
/// when no thread could be started.
///
/// # Caveats
///
/// Transports whose socket was wrapped (`zmq_sock`) without naming its context are not
/// known to be in `ctx` and are not closed; give such sockets their context with the
/// builder's `context()`.
///
/// # Example
///
/// ```
/// # use std::future::Future;
/// # use std::pin::Pin;
/// # use std::sync::Arc;
/// # use std::task::{Context, Poll};
/// # use zmqio_core::runtime::{Readiness, Runtime, ZmqFd};
/// # struct ThreadPerTask;
/// # struct Ready(async_io::Async<ZmqFd>);
/// # impl Readiness for Ready {
/// #     fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
/// #         self.0.poll_readable(cx)
/// #     }
/// # }
/// # // SAFETY: the `Async` only polls the fd and deregisters it, unclosed, when dropped.
/// # unsafe impl Runtime for ThreadPerTask {
/// #     fn register(&self, fd: ZmqFd) -> std::io::Result<Box<dyn Readiness>> {
/// #         Ok(Box::new(Ready(async_io::Async::new_nonblocking(fd)?)))
/// #     }
/// #     fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) {
/// #         std::thread::spawn(move || async_io::block_on(future));
/// #     }
/// #     fn sleep(&self, d: std::time::Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
/// #         Box::pin(async move { async_io::Timer::after(d).await; })
/// #     }
/// # }
/// # let rt: Arc<dyn Runtime> = Arc::new(ThreadPerTask);
/// # async_io::block_on(async {
/// use std::time::Duration;
/// use zmqio_core::StreamBuilder;
///
/// // With an adapter: `zmqio_tokio::create_zmq_stream(zmq::PULL)`, and so on.
/// let ctx = zmq::Context::new();
/// let mut pull = StreamBuilder::new(rt.clone(), zmq::PULL)
///     .context(ctx.clone())
///     .bind("inproc://shutdown-doc")
///     .await?;
/// let push = StreamBuilder::new(rt, zmq::PUSH)
///     .context(ctx.clone())
///     .connect("inproc://shutdown-doc")
///     .await?;
/// push.write(["last words"])?;
/// assert_eq!(&pull.read().await?[0][..], b"last words");
///
/// zmqio_core::shutdown_context(ctx, Duration::from_secs(10)).await?;
/// assert!(push.at_closing() && pull.at_closing());
/// # Ok::<(), zmqio_core::Error>(())
/// # })
/// # .unwrap();
/// ```
pub async fn shutdown_context(ctx: zmq::Context, limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    run_on_thread(move |report| {
        // The process-wide context given by hand: take it out of use, as `shutdown` does.
        let process = {
            let mut current = lock(&PROCESS);
            let is_process = current.as_ref().is_some_and(|p| same_context(&p.ctx, &ctx));
            if is_process {
                current.take()
            } else {
                None
            }
        };
        let generation = process.as_ref().map(|p| p.generation);
        drop(process);
        end_context(ctx, generation, deadline, report);
    })
    .await
}

/// The process-wide context, made on first use, and its generation (a number that tells
/// it apart from the ones before and after a [`shutdown`]).
pub(crate) fn process_context() -> (zmq::Context, u64) {
    static NEXT_GENERATION: AtomicU64 = AtomicU64::new(0);
    let mut current = lock(&PROCESS);
    let process = current.get_or_insert_with(|| {
        let ctx = zmq::Context::new();
        let io_threads = PROCESS_IO_THREADS.load(Ordering::Relaxed);
        if io_threads > 0 {
            // libzmq reads the count when the first socket is made, so on a context without
            // sockets this cannot fail; if it ever did, the context keeps libzmq's default.
            let _ = ctx.set_io_threads(io_threads);
        }
        ProcessContext {
            ctx,
            generation: NEXT_GENERATION.fetch_add(1, Ordering::Relaxed),
        }
    });
    (process.ctx.clone(), process.generation)
}

/// The I/O thread count of every process-wide context made from now on (0: libzmq's
/// default of 1), set by [`set_default_io_threads`](crate::set_default_io_threads).
static PROCESS_IO_THREADS: AtomicI32 = AtomicI32::new(0);

/// See [`set_default_io_threads`](crate::set_default_io_threads): makes the process-wide
/// context with `n` I/O threads if none exists yet; with one in use, `Ok` only if it has `n`.
pub(crate) fn set_process_io_threads(n: i32) -> Result<()> {
    if n < 1 {
        return Err(Error::invalid_argument(format!(
            "the process-wide context needs at least 1 I/O thread, not {n}"
        )));
    }
    let current = lock(&PROCESS);
    if let Some(process) = current.as_ref() {
        let have = process.ctx.get_io_threads()?;
        if have != n {
            return Err(Error::invalid_state(format!(
                "the process-wide context is already in use with {have} I/O thread(s); \
                 set_default_io_threads must come before its first use"
            )));
        }
    }
    PROCESS_IO_THREADS.store(n, Ordering::Relaxed);
    drop(current);
    process_context();
    Ok(())
}

/// Records a transport that just started, so a shutdown of its context can find it.
pub(crate) fn register(shared: &Arc<Shared>) {
    let mut registry = lock(&REGISTRY);
    if registry.live.len() >= registry.prune_at {
        // Forget the transports that are gone; amortised over the registrations since the
        // last time, so each registration costs O(1).
        registry.live.retain(|weak| {
            weak.upgrade()
                .is_some_and(|s| s.lock().engine.backend().is_some())
        });
        registry.prune_at = (registry.live.len() * 2).max(64);
    }
    registry.live.push(Arc::downgrade(shared));
}

struct ProcessContext {
    ctx: zmq::Context,
    generation: u64,
}

/// The process-wide context in use, if one was made since the last shutdown.
static PROCESS: Mutex<Option<ProcessContext>> = Mutex::new(None);

struct Registry {
    /// Every transport started, minus those pruned since they finished.
    live: Vec<Weak<Shared>>,
    /// Prune when `live` reaches this length.
    prune_at: usize,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    live: Vec::new(),
    prune_at: 64,
});

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while these locks are held; the data stays consistent anyway.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where the shutdown thread reports its result (once; later reports are ignored).
type Report = futures::channel::oneshot::Sender<Result<()>>;

/// Runs `work` on a thread of its own and waits for the result it reports, without blocking
/// the caller. The thread may go on after reporting.
async fn run_on_thread(work: impl FnOnce(Report) + Send + 'static) -> Result<()> {
    let (tx, rx) = futures::channel::oneshot::channel();
    thread::Builder::new()
        .name("zmqio-shutdown".into())
        .spawn(move || work(tx))?;
    rx.await
        .unwrap_or_else(|_| Err(Error::InvalidState("the shutdown thread panicked".into())))
}

/// Steps 1 to 3 of the module docs, on the shutdown thread. `process` is the generation of
/// `ctx` when it is the process-wide context.
///
/// When transports are still open at `deadline`, the error is reported then, but the thread
/// keeps `ctx` until they have closed and only then drops it: were the handle dropped
/// first, the close of the last socket would drop the last handle and terminate the
/// context (waiting for `LINGER`) on a runtime thread.
fn end_context(ctx: zmq::Context, process: Option<u64>, deadline: Instant, report: Report) {
    let (zap_handlers, others) = close_transports_of(&ctx, process);
    let close_handlers = || zap_handlers.iter().for_each(ZmqTransport::close);
    let mut still_open = wait_closed(&others, Some(deadline));
    if still_open.is_empty() {
        // The ZAP handlers last (module docs, step 2).
        close_handlers();
        still_open = wait_closed(&zap_handlers, Some(deadline));
    }
    if !still_open.is_empty() {
        let _ = report.send(Err(Error::TimedOut(format!(
            "{} still closing: {}",
            plural(still_open.len(), "transport"),
            still_open.join(", ")
        ))));
        wait_closed(&others, None);
        close_handlers();
        wait_closed(&zap_handlers, None);
        ZmqBackend::settle_releases(Instant::now() + Duration::from_secs(1));
        drop(ctx);
        return;
    }
    // Handles of transports that finished on their own just before are dropped by the
    // closer thread, at once; make sure they are gone before the last one is dropped here.
    ZmqBackend::settle_releases(deadline);
    let _ = report.send(terminate(ctx, deadline));
}

/// Takes back the backend's handle of `ctx` of every open transport on `ctx`, and closes
/// each but the ZAP handlers; returns `(ZAP handlers, the others)`, the handlers still open.
fn close_transports_of(
    ctx: &zmq::Context,
    process: Option<u64>,
) -> (Vec<ZmqTransport>, Vec<ZmqTransport>) {
    let candidates: Vec<Arc<Shared>> = lock(&REGISTRY)
        .live
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    let (mut zap_handlers, mut closing) = (Vec::new(), Vec::new());
    for shared in candidates {
        let (handle, zap_handler) = {
            let mut st = shared.lock();
            let Some(backend) = st.engine.backend_mut() else {
                continue; // finished already
            };
            let ours = match (backend.process_generation(), backend.context()) {
                (Some(generation), _) => process == Some(generation),
                (None, Some(given)) => same_context(given, ctx),
                // A wrapped socket of unknown context: assumed to be in the process-wide one.
                (None, None) => process.is_some(),
            };
            if !ours {
                continue;
            }
            // Not the last handle (the caller holds `ctx`), so dropping it never blocks.
            let handle = backend.take_context();
            (handle, st.engine.bindings().contains(ZAP))
        };
        drop(handle);
        let transport = ZmqTransport::from_shared(shared);
        if zap_handler {
            zap_handlers.push(transport);
        } else {
            transport.close();
            closing.push(transport);
        }
    }
    (zap_handlers, closing)
}

/// Waits until every transport has finished, or `deadline`; returns a description of each
/// one still open then.
fn wait_closed(transports: &[ZmqTransport], deadline: Option<Instant>) -> Vec<String> {
    let all_closed = std::future::poll_fn(|cx| {
        // Poll every one, so each registers the waker.
        let open = transports
            .iter()
            .filter(|t| t.poll_closed(cx).is_pending())
            .count();
        if open == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    });
    if block_on_until(all_closed, deadline).is_some() {
        return Vec::new();
    }
    transports
        .iter()
        .filter(|t| t.shared().lock().closed_result().is_none())
        .map(|t| {
            let st = t.shared().lock();
            format!(
                "{:?} with {} queued",
                t.socket_type(),
                plural(st.engine.queued_messages(), "message")
            )
        })
        .collect()
}

/// Drops `ctx`, meant to be the last handle, on a thread of its own, and waits until the
/// termination that starts then has finished, or `deadline`.
fn terminate(ctx: zmq::Context, deadline: Instant) -> Result<()> {
    let started = watch_termination(&ctx)?;
    let (done_tx, done_rx) = mpsc::channel();
    thread::Builder::new()
        .name("zmqio-context-term".into())
        .spawn(move || {
            drop(ctx); // zmq_ctx_term, if this was the last handle: waits for LINGER
            let _ = done_tx.send(());
        })?;
    let remaining = deadline.saturating_duration_since(Instant::now());
    if done_rx.recv_timeout(remaining).is_err() {
        return Err(Error::TimedOut(
            "the context is still terminating: libzmq is still sending what its sockets' \
             LINGER keeps"
                .into(),
        ));
    }
    // The drop returned. If it was the last handle, the termination has started (and, as it
    // waits for the sentinel to close, the sentinel saw it) and is over.
    if started.try_recv().is_ok() {
        return Ok(());
    }
    let remaining = deadline.saturating_duration_since(Instant::now());
    match started.recv_timeout(remaining) {
        // Another handle was the last one, dropped meanwhile; its termination runs there.
        Ok(()) => Ok(()),
        Err(_) => Err(Error::TimedOut(
            "the context is still in use elsewhere: a handle of it (a clone, or a socket made \
             outside zmqio) is still alive"
                .into(),
        )),
    }
}

/// A receiver that gets `()` once `ctx` starts terminating: a sentinel socket that holds no
/// handle of `ctx` blocks in a receive on a thread of its own, which fails with `ETERM` then,
/// and closes the sentinel so the termination can finish.
fn watch_termination(ctx: &zmq::Context) -> Result<mpsc::Receiver<()>> {
    let raw = ctx.socket(zmq::PULL)?.into_raw();
    // SAFETY: `raw` is the socket `into_raw` just gave up (it closes nothing and relinquishes
    // only the context handle); nothing else owns or uses it, so the new `Socket` owns it
    // alone and closes it exactly once.
    #[allow(unsafe_code)]
    let sentinel = unsafe { zmq::Socket::from_raw(raw) };
    sentinel.set_linger(0)?;
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name("zmqio-context-watch".into())
        .spawn(move || {
            // Nothing ever connects to the sentinel: the receive ends only with ETERM.
            while let Ok(_) | Err(zmq::Error::EINTR) = sentinel.recv_bytes(0) {}
            drop(sentinel);
            let _ = tx.send(());
        })?;
    Ok(rx)
}

/// Whether `a` and `b` are handles of the same context: only the same context refuses a
/// second bind of one inproc endpoint.
fn same_context(a: &zmq::Context, b: &zmq::Context) -> bool {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let endpoint = format!(
        "inproc://zmqio.shutdown.{}.{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let probe = |ctx: &zmq::Context| {
        let socket = ctx.socket(zmq::PAIR)?;
        socket.set_linger(0)?;
        Ok::<_, zmq::Error>(socket)
    };
    let (Ok(first), Ok(second)) = (probe(a), probe(b)) else {
        return false;
    };
    first.bind(&endpoint).is_ok() && second.bind(&endpoint) == Err(zmq::Error::EADDRINUSE)
}

/// Runs `fut` on this thread until it completes (`Some`) or `deadline` passes (`None`).
fn block_on_until<F: Future>(fut: F, deadline: Option<Instant>) -> Option<F::Output> {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return Some(out);
        }
        match deadline {
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    return None;
                }
                thread::park_timeout(deadline - now);
            }
            None => thread::park(),
        }
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
