//! An XSUB/XPUB forwarder: publishers connect to its XSUB, subscribers to its XPUB; messages
//! flow down, subscriptions flow up (an XPUB hands its subscribers' subscriptions to the
//! forwarder as messages, which it passes on to the publishers through the XSUB).
//!
//! The forwarding itself is `zmqio::proxy::Proxy`, zmqio's counterpart of libzmq's
//! `zmq_proxy_steerable`; the `broker` example writes such a loop by hand.
//!
//! Run it with `cargo run -p zmqio --example forwarder`.

use std::time::Duration;

use futures::StreamExt;
use zmqio::proxy::Proxy;
use zmqio::SocketType;

const WANTED: usize = 5;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main]
async fn main() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(30), run()).await??;
    zmqio::shutdown(Duration::from_secs(5)).await?;
    Ok(())
}

async fn run() -> Result<()> {
    let xsub = zmqio::create_zmq_stream(SocketType::XSUB)
        .bind("tcp://127.0.0.1:*")
        .await?;
    let xpub = zmqio::create_zmq_stream(SocketType::XPUB)
        .bind("tcp://127.0.0.1:*")
        .await?;
    let for_publishers = xsub.bound_endpoint().expect("bound above");
    let for_subscribers = xpub.bound_endpoint().expect("bound above");
    // XSUB is the frontend (publishers' side), XPUB the backend (subscribers' side). The
    // proxy runs until `terminate`; while the subscribers' side cannot keep up, it stops
    // reading from the publishers' side.
    let proxy = Proxy::new(xsub, xpub);
    let steering = proxy.handle();
    let forwarder = tokio::spawn(proxy.run());

    let publisher = zmqio::create_zmq_stream(SocketType::PUB)
        .connect(for_publishers)
        .await?;
    let mut subscriber = zmqio::create_zmq_stream(SocketType::SUB)
        .connect(for_subscribers)
        .await?;
    subscriber.transport().subscribe("prices.")?;

    // The subscription needs a moment to travel up through the forwarder ("slow joiner"):
    // publish until the subscriber has seen enough.
    let listening = tokio::spawn(async move {
        for _ in 0..WANTED {
            let msg = subscriber.next().await.ok_or("the subscriber closed")??;
            println!("{}", String::from_utf8_lossy(&msg[0]));
        }
        // Kept open until the counters are read: closed, it would send its unsubscription
        // up through the forwarder too.
        Result::Ok(subscriber)
    });
    let mut n = 0;
    while !listening.is_finished() {
        publisher.write(format!("prices.gold {}", 1900 + n))?;
        publisher.write(format!("weather.rain {n}"))?; // nobody subscribed: filtered upstream
        n += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let subscriber = listening.await??;
    let (down, up) = steering.forwarded();
    println!("the forwarder passed {down} messages down and {up} subscription messages up");
    subscriber.close();
    steering.terminate();
    forwarder.await??;
    publisher.close();
    Ok(())
}
