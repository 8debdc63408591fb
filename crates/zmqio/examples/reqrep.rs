//! Request/reply: a REP server and a REQ client, first with the stream API, then with the
//! protocol API (callbacks, as in aiozmq), where the client awaits each reply through a
//! channel filled by its `msg_received`.
//!
//! Run it with `cargo run -p zmqio --example reqrep`.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use zmqio::{Multipart, SocketType, ZmqProtocol, ZmqTransport};

const REQUESTS: usize = 5;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main]
async fn main() -> Result<()> {
    // A watchdog, so that a broken setup ends the example instead of hanging it.
    tokio::time::timeout(Duration::from_secs(30), async {
        with_streams().await?;
        with_protocols().await
    })
    .await??;
    zmqio::shutdown(Duration::from_secs(5)).await?;
    Ok(())
}

/// The stream API: `read` and `write`, or `Stream` and `Sink`.
async fn with_streams() -> Result<()> {
    let mut server = zmqio::create_zmq_stream(SocketType::REP)
        .bind("tcp://127.0.0.1:*")
        .await?;
    // The builder bound to a free port; this is the endpoint with the real port.
    let endpoint = server.bound_endpoint().expect("bound above");
    println!("stream server on {endpoint}");

    // The server answers each request with its upper-case version.
    let serving = tokio::spawn(async move {
        for _ in 0..REQUESTS {
            let request = server.read().await?;
            server.write(request[0].to_ascii_uppercase())?;
        }
        server.flush().await // the last reply is handed to libzmq before the server goes
    });

    let mut client = zmqio::create_zmq_stream(SocketType::REQ)
        .connect(endpoint)
        .await?;
    for i in 0..REQUESTS {
        client.send(format!("hello {i}").into()).await?; // Sink: send and flush
        let reply = client.next().await.ok_or("the client closed")??; // Stream
        println!("stream client got {:?}", String::from_utf8_lossy(&reply[0]));
    }
    serving.await??;
    client.close();
    Ok(())
}

/// The server's protocol: answers from inside the callback (`write` never blocks).
#[derive(Default)]
struct Upper {
    transport: Option<ZmqTransport>,
    served: usize,
}

impl ZmqProtocol for Upper {
    fn connection_made(&mut self, transport: &ZmqTransport) {
        self.transport = Some(transport.clone());
    }
    fn msg_received(&mut self, request: Multipart) {
        self.served += 1;
        if let Some(t) = &self.transport {
            let _ = t.write(request[0].to_ascii_uppercase());
        }
    }
}

/// The client's protocol: a callback cannot await, so it hands each reply over a channel
/// to the task that waits for it.
struct Client {
    replies: mpsc::UnboundedSender<Multipart>,
}

impl ZmqProtocol for Client {
    fn msg_received(&mut self, reply: Multipart) {
        let _ = self.replies.send(reply);
    }
}

/// The protocol API: `create_zmq_connection` with a protocol factory.
async fn with_protocols() -> Result<()> {
    // `upper` is the server's protocol object, the one its driver calls: an
    // `Arc<Mutex<Upper>>` to read its state from outside (lock briefly, never across
    // an `.await`).
    let (server, upper) = zmqio::create_zmq_connection(Upper::default, SocketType::REP)
        .bind("tcp://127.0.0.1:*")
        .await?;
    let endpoint = server.bound_endpoint().expect("bound above");
    println!("protocol server on {endpoint}");

    // A REQ has one request in flight at a time: the channel never holds more than one reply.
    let (tx, mut replies) = mpsc::unbounded_channel();
    let (client, _) = zmqio::create_zmq_connection(move || Client { replies: tx }, SocketType::REQ)
        .connect(endpoint)
        .await?;
    for i in 0..REQUESTS {
        client.write(format!("bonjour {i}"))?;
        let reply = replies.recv().await.ok_or("the client closed")?;
        println!(
            "protocol client got {:?}",
            String::from_utf8_lossy(&reply[0])
        );
    }
    println!(
        "the server answered {} requests",
        upper.lock().unwrap().served
    );

    // Close both and wait until their sockets are closed.
    client.close();
    server.close();
    client.wait_closed().await;
    server.wait_closed().await;
    Ok(())
}
