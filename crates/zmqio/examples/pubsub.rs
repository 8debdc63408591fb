//! Publish/subscribe with topics: one PUB, two SUBs each subscribed to its own topic.
//!
//! A subscriber only sees what is published after its subscription reached the publisher
//! (ZeroMQ's "slow joiner"), so the publisher keeps publishing until both subscribers have
//! had their fill, as a real feed would.
//!
//! Run it with `cargo run -p zmqio --example pubsub`.

use std::time::Duration;

use futures::StreamExt;
use zmqio::{SocketType, ZmqStream};

const WANTED: usize = 5;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main]
async fn main() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(30), run()).await??;
    zmqio::shutdown(Duration::from_secs(5)).await?;
    Ok(())
}

async fn run() -> Result<()> {
    let publisher = zmqio::create_zmq_stream(SocketType::PUB)
        .bind("tcp://127.0.0.1:*")
        .await?;
    let endpoint = publisher.bound_endpoint().expect("bound above");

    let weather = subscriber(&endpoint, "weather.").await?;
    let sport = subscriber(&endpoint, "sport.").await?;
    let weather = tokio::spawn(listen(weather, "weather."));
    let sport = tokio::spawn(listen(sport, "sport."));

    // Publish on three topics (nobody listens to "news.") until both listeners are done.
    let mut n = 0u64;
    while !(weather.is_finished() && sport.is_finished()) {
        for topic in ["weather.paris", "sport.tennis", "news.world"] {
            // Two frames: the topic, which subscriptions match as a prefix, and the body.
            publisher.write([topic.to_owned(), format!("update {n}")])?;
        }
        n += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    weather.await??;
    sport.await??;
    println!("published {n} rounds");
    publisher.close();
    Ok(())
}

async fn subscriber(endpoint: &str, topic: &str) -> Result<ZmqStream> {
    let sub = zmqio::create_zmq_stream(SocketType::SUB)
        .connect(endpoint)
        .await?;
    sub.transport().subscribe(topic)?;
    Ok(sub)
}

async fn listen(mut sub: ZmqStream, topic: &'static str) -> Result<()> {
    for _ in 0..WANTED {
        let msg = sub.next().await.ok_or("the subscriber closed")??;
        let (t, body) = (
            String::from_utf8_lossy(&msg[0]),
            String::from_utf8_lossy(&msg[1]),
        );
        assert!(t.starts_with(topic), "{t} does not match {topic}");
        println!("[{topic}] {t}: {body}");
    }
    sub.close();
    Ok(())
}
