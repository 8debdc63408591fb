//! The `tracing` feature's events about the async shell's own work: every engine event on its
//! way to the protocol, and every ZAP decision of the authenticator. Without the feature
//! every function here is empty and inlined away. (The span per transport and the engine's
//! own events are in `types::trace`.)
//!
//! Call sites: `shell::driver::deliver` (every engine event: connection lost, fatal errors,
//! pause/resume writing, monitor events), `shell::driver::deliver_pause` (a `pause_writing`
//! delivered inside the user's `write`), `shell::auth` (`Inner::send`: every ZAP decision).
//!
//! Secrets never reach an event: a ZAP decision names the domain, address, mechanism, status
//! and user id (a PLAIN user name, a CURVE client's public key), never a password or a secret
//! key.

use crate::auth::{Decision, ZapRequest};
use crate::engine::EngineEvent;

/// An engine event on its way to the protocol.
#[inline(always)]
pub(crate) fn engine_event(event: &EngineEvent) {
    #[cfg(feature = "tracing")]
    match event {
        EngineEvent::Message(_) => {}
        EngineEvent::PauseWriting => {
            tracing::debug!("pause writing: write queue above high watermark")
        }
        EngineEvent::ResumeWriting => {
            tracing::debug!("resume writing: write queue at low watermark")
        }
        EngineEvent::SocketEvent(ev) => tracing::debug!(
            event = ?ev.event,
            value = ev.value,
            endpoint = %ev.endpoint,
            "monitor event"
        ),
        EngineEvent::ConnectionLost(None) => tracing::debug!("connection lost"),
        EngineEvent::ConnectionLost(Some(error)) => {
            tracing::warn!(%error, errno = ?error.errno(), "connection lost: fatal error")
        }
    }
    #[cfg(not(feature = "tracing"))]
    let _ = event;
}

/// Who a ZAP decision is about, taken from the request before a custom handler consumes it,
/// with the span current then (the authenticator's transport). Holds nothing without the
/// feature.
#[derive(Debug, Default)]
pub(crate) struct ZapSubject {
    #[cfg(feature = "tracing")]
    span: Option<tracing::Span>,
    #[cfg(feature = "tracing")]
    domain: String,
    #[cfg(feature = "tracing")]
    address: String,
    #[cfg(feature = "tracing")]
    mechanism: &'static str,
    /// A PLAIN user name or a CURVE client's public key (Z85): never a password.
    #[cfg(feature = "tracing")]
    user_id: String,
}

impl ZapSubject {
    /// The subject of a well-formed request.
    #[inline(always)]
    pub(crate) fn of(request: &ZapRequest) -> Self {
        #[cfg(feature = "tracing")]
        return Self {
            span: Some(tracing::Span::current()),
            domain: request.domain.clone(),
            address: request.address.clone(),
            mechanism: request.mechanism(),
            user_id: match &request.credentials {
                crate::auth::Credentials::Null => String::new(),
                crate::auth::Credentials::Plain { username, .. } => username.clone(),
                crate::auth::Credentials::Curve { public_key } => {
                    crate::auth::z85_encode_key(public_key)
                }
            },
        };
        #[cfg(not(feature = "tracing"))]
        {
            let _ = request;
            Self {}
        }
    }

    /// The subject of a malformed request: nothing known about it.
    #[inline(always)]
    pub(crate) fn malformed() -> Self {
        #[cfg(feature = "tracing")]
        return Self {
            span: Some(tracing::Span::current()),
            ..Self::default()
        };
        #[cfg(not(feature = "tracing"))]
        Self {}
    }
}

/// The authenticator's answer to one ZAP request: an admitted client at INFO, a refused one
/// at WARN, with the status code (200, 300, 400, 500) and, when refused, the reason.
#[inline(always)]
pub(crate) fn zap_decision(subject: &ZapSubject, decision: &Decision) {
    #[cfg(feature = "tracing")]
    {
        let _entered = subject.span.as_ref().map(tracing::Span::enter);
        let status = decision.status_code();
        match decision {
            // The user id the server's messages carry (a custom handler may choose another).
            Decision::Accept(user_id) => tracing::info!(
                domain = %subject.domain,
                address = %subject.address,
                mechanism = subject.mechanism,
                status,
                user_id = %user_id,
                "authentication: accepted"
            ),
            Decision::Refuse(reason)
            | Decision::TemporaryError(reason)
            | Decision::InternalError(reason) => tracing::warn!(
                domain = %subject.domain,
                address = %subject.address,
                mechanism = subject.mechanism,
                status,
                user_id = %subject.user_id,
                reason = %reason,
                "authentication: refused"
            ),
        }
    }
    #[cfg(not(feature = "tracing"))]
    let _ = (subject, decision);
}
