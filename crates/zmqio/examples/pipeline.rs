//! A pipeline: a ventilator PUSHes tasks to workers, which PUSH results to a sink.
//!
//! PUSH spreads messages over the connected workers; PULL fair-queues the results. A worker
//! whose connection is not up yet gets nothing, so the ventilator waits for all of them (its
//! monitor's handshake events) before it sends the first task.
//!
//! Run it with `cargo run -p zmqio --example pipeline` (`-- --quick` for fewer tasks).

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use zmqio::{MonitorEvent, Multipart, SocketType};

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
    // Before any worker connects: every handshake with a worker is then seen.
    ventilator
        .transport()
        .enable_monitor(Some(MonitorEvent::HandshakeSucceeded.into()))
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

    // PUSH hands a message to the workers connected at that moment: wait for all of them.
    let mut ready = 0;
    while ready < WORKERS {
        if ventilator.read_event().await?.event == MonitorEvent::HandshakeSucceeded {
            ready += 1;
        }
    }

    // Send the tasks in batches of up to 64: `write_many` hands a batch over under one lock,
    // and `drain` waits at the write queue's low watermark, so a slow pipeline holds the
    // ventilator back instead of growing its queue. (`SinkExt::send_all` does the same one
    // message at a time.)
    let mut batch: Vec<Multipart> = Vec::with_capacity(64);
    let mut next = 0;
    while next < tasks {
        let end = tasks.min(next + 64);
        batch.extend((next..end).map(|i| Multipart::from((i % 1000).to_be_bytes().to_vec())));
        ventilator.write_many(&mut batch)?;
        ventilator.drain().await?;
        next = end;
    }

    // The sink counts the results per worker, taking every result already waiting at once.
    let mut per_worker = BTreeMap::new();
    let mut results = Vec::with_capacity(64);
    let mut done = 0;
    while done < tasks as usize {
        done += sink.read_many(&mut results, 64).await?;
        for result in results.drain(..) {
            *per_worker
                .entry(String::from_utf8_lossy(&result[0]).into_owned())
                .or_insert(0) += 1;
        }
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
