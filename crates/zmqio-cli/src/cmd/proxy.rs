//! `zmqio proxy`: forward messages between a frontend and a backend socket, with the
//! library's `zmqio::proxy::Proxy`.

use std::future::{poll_fn, Future};
use std::pin::pin;

use crate::args::{can_receive, can_send, type_name, ProxyArgs, Security, Side};
use crate::error::{failed, usage, CliError, CliResult};
use crate::socket::{finish, interrupted, open_watched, Spec, Watch};
use crate::zmqio::{proxy::Proxy, zmq::SocketType, ZmqStream};

/// Runs `zmqio proxy`: forwards both ways (where the socket types allow it) until Ctrl-C or
/// a lost socket. The proxy takes a message from one side only while the other side (and
/// the capture) can take it, so a slow side holds the other back instead of queueing
/// without bound. A ROUTER side drops a message for a peer that is not connected (as
/// libzmq's `zmq_proxy` does), so a client that left cannot end the proxy.
pub(crate) async fn run(a: ProxyArgs) -> CliResult {
    let (f, b) = (a.frontend.socket_type, a.backend.socket_type);
    let flows = (can_receive(f) && can_send(b)) || (can_receive(b) && can_send(f));
    if !flows {
        return Err(usage(format!(
            "invalid value for '--backend': nothing can flow between a {} frontend and a {} backend",
            type_name(f),
            type_name(b)
        )));
    }
    let (front, front_watch) = open_side(&a.frontend, "frontend", &a.security, &a).await?;
    let (back, back_watch) = open_side(&a.backend, "backend", &Security::default(), &a).await?;
    let mut watches = vec![front_watch, back_watch];
    let mut proxy = Proxy::new(front, back);
    if let Some((ep, bind)) = &a.capture {
        let eps = std::slice::from_ref(ep);
        let (binds, connects): (&[String], &[String]) = if *bind { (eps, &[]) } else { (&[], eps) };
        let security = Security::default();
        let (capture, watch) = open_watched(Spec {
            socket_type: SocketType::PUB,
            binds,
            connects,
            security: &security,
            opts: &a.opts,
            extra: &[],
            all_events: false,
            label: "capture",
            bind_arg: "--capture",
            connect_arg: "--capture",
        })
        .await?;
        proxy = proxy.capture(capture);
        watches.push(watch);
    }
    let handle = proxy.handle();
    let mut running = pin!(proxy.run());
    let mut intr = pin!(interrupted());
    let outcome = poll_fn(|cx| {
        for w in &mut watches {
            let _ = w.poll_report(cx);
        }
        // A finished `interrupted()` is never polled again.
        if !handle.is_terminated() && intr.as_mut().poll(cx).is_ready() {
            // The run returns at its next poll, just below.
            handle.terminate();
        }
        running.as_mut().poll(cx)
    })
    .await;
    // The proxy has let its streams go: each closes, flushing what it queued.
    let mut first_error: Option<CliError> = None;
    for w in &watches {
        let r = w.reporter();
        if let Err(e) = finish(r.transport(), r.label()).await {
            first_error.get_or_insert(e);
        }
    }
    if let Err(e) = outcome {
        first_error.get_or_insert_with(|| failed(format!("proxy: a socket was lost: {e}")));
    }
    first_error.map_or(Ok(()), Err)
}

async fn open_side(
    side: &Side,
    label: &str,
    security: &Security,
    a: &ProxyArgs,
) -> CliResult<(ZmqStream, Watch)> {
    let eps = std::slice::from_ref(&side.endpoint);
    let (binds, connects): (&[String], &[String]) = if side.bind { (eps, &[]) } else { (&[], eps) };
    let arg = if label == "frontend" {
        "--frontend"
    } else {
        "--backend"
    };
    let (stream, watch) = open_watched(Spec {
        socket_type: side.socket_type,
        binds,
        connects,
        security,
        opts: &a.opts,
        extra: &[],
        all_events: false,
        label,
        bind_arg: arg,
        connect_arg: arg,
    })
    .await?;
    if side.socket_type == SocketType::SUB {
        // A SUB side forwards everything its publishers send.
        stream
            .transport()
            .subscribe(b"")
            .map_err(|e| failed(format!("{label}: cannot subscribe: {e}")))?;
    }
    Ok((stream, watch))
}
