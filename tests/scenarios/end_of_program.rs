//! `shutdown_context`: ending a user's context without losing what was written.
//!
//! (`shutdown` of the process-wide context ends every transport of the process, so it is
//! tested in a child process: `tests/end_of_program.rs`.)

use std::time::Duration;

use zmqio::Error;

use super::timeout;
use crate::zmqio;

const MESSAGES: usize = 1_000;

scenario! {
    /// Everything written on a context's transports reaches a peer in another context, the
    /// context's transports end, and the other context's transports carry on.
    async fn shutdown_context_flushes_and_ends_only_its_own_transports() {
        let mut pull = zmqio::create_zmq_stream(zmq::PULL)
            .bind("tcp://127.0.0.1:*")
            .await
            .unwrap();
        let endpoint = zmqio_tests::endpoint_of(pull.transport());

        let ctx = zmq::Context::new();
        let push = zmqio::create_zmq_stream(zmq::PUSH)
            .context(ctx.clone())
            .connect(endpoint.as_str())
            .await
            .unwrap();
        for i in 0..MESSAGES {
            push.write([i.to_string()]).unwrap();
        }
        zmqio::shutdown_context(ctx, Duration::from_secs(30))
            .await
            .expect("shutdown_context");
        assert!(push.at_closing());
        assert_eq!(push.transport().wait_closed().now_or_never_ready(), Some(None));

        for i in 0..MESSAGES {
            let msg = timeout(Duration::from_secs(20), pull.read())
                .await
                .expect("a message was lost")
                .unwrap();
            assert_eq!(&msg[0][..], i.to_string().as_bytes());
        }
        // The process-wide context's transports are untouched.
        assert!(!pull.at_closing());
        let again = zmqio::create_zmq_stream(zmq::PUSH)
            .connect(endpoint.as_str())
            .await
            .unwrap();
        again.write(["still here"]).unwrap();
        assert_eq!(&pull.read().await.unwrap()[0][..], b"still here");
        again.close();
        pull.close();
    }
}

scenario! {
    /// A transport that cannot flush (no peer) makes the shutdown fail at its bound, saying
    /// what was pending; the transport can still be aborted afterwards.
    async fn shutdown_context_times_out_naming_what_is_pending() {
        let ctx = zmq::Context::new();
        let push = zmqio::create_zmq_stream(zmq::PUSH)
            .context(ctx.clone())
            .await
            .unwrap();
        push.write(["nobody will read this"]).unwrap(); // no peer: queued in zmqio
        match zmqio::shutdown_context(ctx, Duration::from_millis(300)).await {
            Err(Error::TimedOut(msg)) => {
                assert!(msg.contains("1 transport still closing"), "{msg}");
                assert!(msg.contains("PUSH with 1 message queued"), "{msg}");
            }
            other => panic!("expected TimedOut, got {other:?}"),
        }
        assert!(push.at_closing());
        push.transport().abort();
        assert_eq!(
            timeout(Duration::from_secs(20), push.transport().wait_closed()).await,
            Some(None)
        );
    }
}

scenario! {
    /// Nothing on the context: the shutdown has only the context to terminate.
    async fn shutdown_context_without_transports_terminates_at_once() {
        let ctx = zmq::Context::new();
        zmqio::shutdown_context(ctx, Duration::from_secs(20))
            .await
            .expect("shutdown_context");
    }
}

/// `Some(output)` if the future is ready at its first poll.
trait NowOrNever: std::future::Future + Sized {
    fn now_or_never_ready(self) -> Option<Self::Output> {
        futures::FutureExt::now_or_never(self)
    }
}

impl<F: std::future::Future> NowOrNever for F {}
