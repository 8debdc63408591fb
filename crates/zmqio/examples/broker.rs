//! A request/reply broker: REQ clients connect to a ROUTER, REP workers connect to a DEALER,
//! and the broker passes messages between the two, envelopes and all.
//!
//! The ROUTER prefixes each request with the routing id of the client it came from; the
//! DEALER passes it to a worker; the worker's REP sends the envelope back with its reply; the
//! ROUTER uses the id to find the client. Neither clients nor workers know about each other,
//! and workers can come and go.
//!
//! Run it with `cargo run -p zmqio --example broker`.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use zmqio::{SocketType, ZmqStream};

const CLIENTS: usize = 3;
const WORKERS: usize = 2;
const REQUESTS: usize = 4;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main]
async fn main() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(30), run()).await??;
    zmqio::shutdown(Duration::from_secs(5)).await?;
    Ok(())
}

async fn run() -> Result<()> {
    let frontend = zmqio::create_zmq_stream(SocketType::ROUTER)
        .bind("tcp://127.0.0.1:*")
        .await?;
    let backend = zmqio::create_zmq_stream(SocketType::DEALER)
        .bind("tcp://127.0.0.1:*")
        .await?;
    let for_clients = frontend.bound_endpoint().expect("bound above");
    let for_workers = backend.bound_endpoint().expect("bound above");
    let broker = tokio::spawn(broker(frontend, backend));

    for id in 0..WORKERS {
        let mut worker = zmqio::create_zmq_stream(SocketType::REP)
            .connect(for_workers.as_str())
            .await?;
        tokio::spawn(async move {
            while let Some(Ok(request)) = worker.next().await {
                let text = String::from_utf8_lossy(&request[0]);
                if worker
                    .write(format!("{text}, done by worker {id}"))
                    .is_err()
                {
                    break;
                }
            }
        });
    }

    let mut clients = Vec::new();
    for id in 0..CLIENTS {
        let mut client = zmqio::create_zmq_stream(SocketType::REQ)
            .connect(for_clients.as_str())
            .await?;
        clients.push(tokio::spawn(async move {
            for n in 0..REQUESTS {
                client
                    .send(format!("job {n} of client {id}").into())
                    .await?;
                let reply = client.next().await.ok_or("the client closed")??;
                println!("{}", String::from_utf8_lossy(&reply[0]));
            }
            Result::Ok(())
        }));
    }
    for client in clients {
        client.await??;
    }
    broker.abort(); // the broker would run forever; dropping its streams closes them
    Ok(())
}

/// Forwards requests from the ROUTER to the DEALER and replies back, whole (every frame of
/// the envelope). `feed` waits while the other side's write queue is above its high
/// watermark, so a side that cannot keep up slows the other down instead of queueing without
/// bound. (`zmqio::proxy` does the same, with pause/resume and a capture socket.)
async fn broker(mut frontend: ZmqStream, mut backend: ZmqStream) -> Result<()> {
    loop {
        tokio::select! {
            Some(request) = frontend.next() => backend.feed(request?).await?,
            Some(reply) = backend.next() => frontend.feed(reply?).await?,
            else => return Ok(()),
        }
    }
}
