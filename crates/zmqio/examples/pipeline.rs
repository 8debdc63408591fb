//! A pipeline: a ventilator PUSHes tasks to workers, which PUSH results to a sink.
//!
//! PUSH spreads messages over the connected workers; PULL fair-queues the results.
//!
//! Run it with `cargo run -p zmqio --example pipeline` (`-- --quick` for fewer tasks).

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use zmqio::{Multipart, SocketType};

const WORKERS: usize = 3;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main]
async fn main() -> Result<()> {
    let tasks = if std::env::args().any(|a| a == "--quick") {
        30
    } else {
        300
    };
    tokio::time::timeout(Duration::from_secs(30), run(tasks)).await??;
    zmqio::shutdown(Duration::from_secs(5)).await?;
    Ok(())
}

async fn run(tasks: u32) -> Result<()> {
    // The ventilator and the sink bind; the workers connect to both (the stable parts bind).
    let mut ventilator = zmqio::create_zmq_stream(SocketType::PUSH)
        .bind("tcp://127.0.0.1:*")
        .await?;
    let mut sink = zmqio::create_zmq_stream(SocketType::PULL)
        .bind("tcp://127.0.0.1:*")
        .await?;
    let tasks_at = ventilator.bound_endpoint().expect("bound above");
    let results_at = sink.bound_endpoint().expect("bound above");

    let mut workers = Vec::new();
    for id in 0..WORKERS {
        let mut from = zmqio::create_zmq_stream(SocketType::PULL)
            .connect(tasks_at.as_str())
            .await?;
        let to = zmqio::create_zmq_stream(SocketType::PUSH)
            .connect(results_at.as_str())
            .await?;
        workers.push(tokio::spawn(async move {
            // Each task is a number of microseconds of "work"; the result names the worker.
            while let Some(task) = from.next().await {
                let micros = u32::from_be_bytes(task?[0][..].try_into()?);
                tokio::time::sleep(Duration::from_micros(micros.into())).await;
                to.write(format!("worker {id}"))?;
            }
            Result::Ok(())
        }));
    }

    // Send every task; `send_all` waits at the write queue's high watermark, so a slow
    // pipeline holds the ventilator back instead of growing its queue.
    let mut batch = futures::stream::iter(
        (0..tasks).map(|i| Ok(Multipart::from((i % 1000).to_be_bytes().to_vec()))),
    );
    ventilator.send_all(&mut batch).await?;

    // The sink counts the results per worker.
    let mut per_worker = BTreeMap::new();
    for _ in 0..tasks {
        let result = sink.read().await?;
        *per_worker
            .entry(String::from_utf8_lossy(&result[0]).into_owned())
            .or_insert(0) += 1;
    }
    println!("{tasks} tasks done: {per_worker:?}");

    // The workers wait for more tasks forever; closing the ventilator does not reach them
    // (PUSH has no "end of work"), so stop their tasks, which closes their streams.
    for worker in workers {
        worker.abort();
    }
    ventilator.close();
    sink.close();
    Ok(())
}
