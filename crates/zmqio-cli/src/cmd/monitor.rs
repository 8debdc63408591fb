//! `zmqio monitor`: print a socket's monitor events as they happen.

use crate::args::MonitorArgs;
use crate::error::CliResult;
use crate::output::{event_line, Out, Printed};
use crate::socket::{lost_error, open, Spec, Waited};
use crate::time::utc_now_text;

/// Runs `zmqio monitor`.
pub(crate) async fn run(a: MonitorArgs) -> CliResult {
    let mut spec = Spec::new(a.socket_type, &a.endpoints, &a.security, &a.opts);
    spec.all_events = true;
    let label = spec.label;
    let mut sock = open(spec).await?;
    let out = Out::new();
    let mut seen = 0;
    while a.count != Some(seen) {
        match sock.next_event().await {
            Waited::Done(ev) => {
                seen += 1;
                if out.line(&event_line(&ev, &utc_now_text(), a.format))? == Printed::Closed {
                    break;
                }
            }
            Waited::Msg(_) | Waited::Interrupted => break,
            Waited::Lost(e) => {
                // The socket is lost: its error is the one to report.
                let _ = sock.finish().await;
                return Err(lost_error(label, e));
            }
        }
    }
    sock.finish().await
}
