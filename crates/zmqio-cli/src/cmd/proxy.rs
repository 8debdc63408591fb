//! `zmqio proxy`: forward messages between a frontend and a backend socket.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;

use crate::args::{can_receive, can_send, type_name, ProxyArgs, Security, Side};
use crate::error::{failed, usage, CliError, CliResult};
use crate::socket::{interrupted, lost_error, open, Extra, Sock, Spec};
use crate::zmqio::{zmq::SocketType, Multipart, ZmqTransport};

/// Runs `zmqio proxy`.
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
    let mut front = open_side(&a.frontend, "frontend", &a.security, &a).await?;
    let mut back = open_side(&a.backend, "backend", &Security::default(), &a).await?;
    let mut capture = match &a.capture {
        None => None,
        Some((ep, bind)) => {
            let eps = std::slice::from_ref(ep);
            let (binds, connects): (&[String], &[String]) =
                if *bind { (eps, &[]) } else { (&[], eps) };
            let security = Security::default();
            Some(
                open(Spec {
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
                .await?,
            )
        }
    };
    let forwarded = forward(&mut front, &mut back, capture.as_ref().map(Sock::transport)).await;
    let mut first_error: Option<CliError> = forwarded.err();
    for sock in [Some(front), Some(back), capture.take()]
        .into_iter()
        .flatten()
    {
        if let Err(e) = sock.finish().await {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

async fn open_side(
    side: &Side,
    label: &str,
    security: &Security,
    a: &ProxyArgs,
) -> CliResult<Sock> {
    let eps = std::slice::from_ref(&side.endpoint);
    let (binds, connects): (&[String], &[String]) = if side.bind { (eps, &[]) } else { (&[], eps) };
    let arg = if label == "frontend" {
        "--frontend"
    } else {
        "--backend"
    };
    let extra = match side.socket_type {
        // Forwarding to a peer that is not there yet queues rather than drops.
        SocketType::ROUTER => vec![Extra::RouterMandatory],
        _ => Vec::new(),
    };
    open(Spec {
        socket_type: side.socket_type,
        binds,
        connects,
        security,
        opts: &a.opts,
        extra: &extra,
        all_events: false,
        label,
        bind_arg: arg,
        connect_arg: arg,
    })
    .await
}

/// Which way a message went.
enum Moved {
    FrontToBack(Multipart),
    BackToFront(Multipart),
    Stop,
    Lost(&'static str, Option<crate::zmqio::Error>),
}

/// Forwards messages both ways until Ctrl-C or a lost socket, with backpressure: while one
/// side's write queue is above its high watermark, the other side is not read (its own
/// read-side watermark, then libzmq's HWM, then pushes back on its peers) until the queue
/// drains to the low watermark.
///
/// The only forwarding loop of the tool: when the library offers a proxy, call it here.
pub(crate) async fn forward(
    front: &mut Sock,
    back: &mut Sock,
    capture: Option<&ZmqTransport>,
) -> CliResult {
    let (ft, bt) = (front.transport().clone(), back.transport().clone());
    let f_to_b = can_receive(ft.socket_type()) && can_send(bt.socket_type());
    let b_to_f = can_receive(bt.socket_type()) && can_send(ft.socket_type());
    let mut intr = pin!(interrupted());
    loop {
        let moved = poll_fn(|cx| {
            if intr.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Moved::Stop);
            }
            let back_full = congested(&bt, cx);
            let front_full = congested(&ft, cx);
            match front.poll_next(cx, f_to_b && !back_full) {
                Poll::Ready(Ok(m)) => return Poll::Ready(Moved::FrontToBack(m)),
                Poll::Ready(Err(e)) => return Poll::Ready(Moved::Lost("frontend", e)),
                Poll::Pending => {}
            }
            match back.poll_next(cx, b_to_f && !front_full) {
                Poll::Ready(Ok(m)) => Poll::Ready(Moved::BackToFront(m)),
                Poll::Ready(Err(e)) => Poll::Ready(Moved::Lost("backend", e)),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        let (to, label, msg) = match moved {
            Moved::FrontToBack(m) => (&bt, "backend", m),
            Moved::BackToFront(m) => (&ft, "frontend", m),
            Moved::Stop => return Ok(()),
            Moved::Lost(label, e) => return Err(lost_error(label, e)),
        };
        if let Some(c) = capture {
            // A PUB never blocks: it drops for slow subscribers.
            c.write(msg.clone())
                .map_err(|e| failed(format!("capture: {e}")))?;
        }
        to.write(msg).map_err(|e| lost_error(label, Some(e)))?;
    }
}

/// Whether `t`'s write queue is above its high watermark; if so, `cx` is woken when it has
/// drained to the low one (or the transport ends).
fn congested(t: &ZmqTransport, cx: &mut std::task::Context<'_>) -> bool {
    if t.get_write_buffer_size() <= t.get_write_buffer_limits().1 {
        return false;
    }
    // Dropping a pending drain() loses nothing: the transport keeps the waker.
    !matches!(pin!(t.drain()).poll(cx), Poll::Ready(_))
}
