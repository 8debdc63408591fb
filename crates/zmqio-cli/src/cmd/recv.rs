//! `zmqio recv`: receive messages and print them.

use std::convert::Infallible;
use std::future::pending;

use crate::args::{type_name, RecvArgs};
use crate::error::{usage, CliResult};
use crate::output::{message_line, Out, Printed};
use crate::socket::{lost_error, open, Spec, Waited};
use crate::zmqio::{zmq::SocketType, Multipart};

/// Runs `zmqio recv`.
pub(crate) async fn run(a: RecvArgs) -> CliResult {
    let ty = a.socket_type;
    let subscribes = matches!(ty, SocketType::SUB | SocketType::XSUB);
    if !a.subscribe.is_empty() && !subscribes {
        return Err(usage(format!(
            "'--subscribe' applies to SUB and XSUB, not {}",
            type_name(ty)
        )));
    }
    if a.reply.is_some() && ty != SocketType::REP {
        return Err(usage(format!(
            "'--reply' applies to REP, not {}",
            type_name(ty)
        )));
    }
    let mut sock = open(Spec::new(ty, &a.endpoints, &a.security, &a.opts)).await?;
    if subscribes {
        let everything = [String::new()];
        let topics = if a.subscribe.is_empty() {
            &everything[..]
        } else {
            &a.subscribe[..]
        };
        for topic in topics {
            let t = sock.transport();
            let done = if ty == SocketType::SUB {
                t.subscribe(topic)
            } else {
                // XSUB: a subscription is a message, 0x01 then the topic.
                let mut frame = vec![1];
                frame.extend_from_slice(topic.as_bytes());
                t.write([frame])
            };
            done.map_err(|e| lost_error(type_name(ty), Some(e)))?;
        }
    }
    let reply = a.reply.as_deref().map(|r| Multipart::from([r.to_owned()]));
    let out = Out::new();
    let mut received = 0;
    while a.count != Some(received) {
        match sock.wait(pending::<Infallible>(), true).await {
            Waited::Msg(msg) => {
                received += 1;
                let printed = out.line(&message_line(&msg, a.format))?;
                if ty == SocketType::REP {
                    let answer = reply.clone().unwrap_or(msg);
                    if let Err(e) = sock.transport().write(answer) {
                        // The socket is lost: its error is the one to report.
                        let _ = sock.finish().await;
                        return Err(lost_error(type_name(ty), Some(e)));
                    }
                }
                if printed == Printed::Closed {
                    break;
                }
            }
            Waited::Interrupted => break,
            Waited::Lost(e) => {
                let _ = sock.finish().await;
                return Err(lost_error(type_name(ty), e));
            }
            Waited::Done(never) => match never {},
        }
    }
    sock.finish().await
}
