//! The socket monitor: typed events (listening, accepted, handshake, disconnected, ...) for a
//! socket, read from its stream with `read_event`.
//!
//! Run it with `cargo run -p zmqio --example monitor`.

use std::time::Duration;

use zmqio::{MonitorEvent, SocketType};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main]
async fn main() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(30), run()).await??;
    zmqio::shutdown(Duration::from_secs(5)).await?;
    Ok(())
}

async fn run() -> Result<()> {
    let mut server = zmqio::create_zmq_stream(SocketType::ROUTER).await?;
    // Every event (`None`); a mask such as `MonitorEvent::Accepted | MonitorEvent::Disconnected`
    // picks some. Enable before binding to see the bind's own events.
    server.transport().enable_monitor(None).await?;
    let endpoint = server.transport().bind("tcp://127.0.0.1:*").await?;

    // A client comes and goes.
    let client = zmqio::create_zmq_stream(SocketType::DEALER)
        .connect(endpoint)
        .await?;
    let mut client_closed = false;
    loop {
        let event = server.read_event().await?;
        println!(
            "{:?} on {} (value {})",
            event.event, event.endpoint, event.value
        );
        match event.event {
            // The ZMTP handshake with the client is done: let the client go.
            MonitorEvent::HandshakeSucceeded if !client_closed => {
                client.close();
                client_closed = true;
            }
            MonitorEvent::Disconnected => break,
            _ => {}
        }
    }
    server.transport().disable_monitor().await?;
    server.close();
    Ok(())
}
