//! Receiving small frames costs no allocation per message: they are copied into a shared,
//! reused arena (`engine::ZmqBackend::recv`). Counted with a counting global allocator, on
//! the receiving thread only (libzmq allocates with C's `malloc`, which is not counted).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use zmqio_core::engine::{Backend, ZmqBackend};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards every call to `System` unchanged; the counter is a const-initialised
// thread-local `Cell` without a destructor, so touching it never allocates.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller's contract for `alloc`, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc`, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

/// A connected inproc PAIR without HWMs: the sending socket and the receiving backend.
fn pair(ctx: &zmq::Context, name: &str) -> (zmq::Socket, ZmqBackend) {
    let server = ctx.socket(zmq::PAIR).unwrap();
    server.set_rcvhwm(0).unwrap();
    server.bind(&format!("inproc://{name}")).unwrap();
    let client = ctx.socket(zmq::PAIR).unwrap();
    client.set_sndhwm(0).unwrap();
    client.connect(&format!("inproc://{name}")).unwrap();
    (client, ZmqBackend::new(server))
}

/// Receives `count` messages, returning them and the allocations the receives made.
fn receive(rx: &mut ZmqBackend, count: usize) -> (Vec<zmqio_core::Multipart>, usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut counted = 0;
    let mut received = Vec::with_capacity(count);
    while received.len() < count {
        let before = allocations();
        let r = rx.recv();
        counted += allocations() - before;
        match r {
            Ok(msg) => received.push(msg),
            Err(zmq::Error::EAGAIN) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Err(e) => panic!("receive failed: {e}"),
        }
    }
    (received, counted)
}

#[test]
fn two_frame_messages_are_received_without_an_allocation_per_message() {
    const MESSAGES: usize = 2_000;
    let ctx = zmq::Context::new();
    let (client, mut rx) = pair(&ctx, "recv-alloc-two");
    for i in 0..MESSAGES {
        client
            .send_multipart([&[i as u8; 16][..], &[!(i as u8); 64][..]], 0)
            .unwrap();
    }
    let (received, counted) = receive(&mut rx, MESSAGES);
    for (i, msg) in received.iter().enumerate() {
        assert_eq!(msg.len(), 2);
        assert_eq!(&msg[0][..], &[i as u8; 16][..]);
        assert_eq!(&msg[1][..], &[!(i as u8); 64][..]);
    }
    assert!(
        counted <= MESSAGES / 16,
        "{counted} allocations for {MESSAGES} received messages"
    );
}

#[test]
fn small_frames_are_received_without_an_allocation_per_message() {
    const MESSAGES: usize = 2_000;
    let ctx = zmq::Context::new();
    let (client, mut rx) = pair(&ctx, "recv-alloc");
    for i in 0..MESSAGES {
        client.send(&[i as u8; 64][..], 0).unwrap();
    }
    client.send(&[9u8; 1000][..], 0).unwrap(); // under 1 KiB: copied as well

    let (received, counted) = receive(&mut rx, MESSAGES + 1);
    for (i, msg) in received.iter().take(MESSAGES).enumerate() {
        assert_eq!(&msg[0][..], &[i as u8; 64][..]);
    }
    assert_eq!(&received[MESSAGES][0][..], &[9u8; 1000][..]);
    // One chunk of the arena per 128 messages of 64 bytes, and its shared header.
    assert!(
        counted <= MESSAGES / 32,
        "{counted} allocations for {} received messages",
        MESSAGES + 1
    );
}

/// Receives `count` messages, handing each to `keep` at once; returns the allocations the
/// receives made.
fn receive_each(
    rx: &mut ZmqBackend,
    count: usize,
    mut keep: impl FnMut(usize, zmqio_core::Multipart),
) -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut counted = 0;
    let mut received = 0;
    while received < count {
        let before = allocations();
        let r = rx.recv();
        counted += allocations() - before;
        match r {
            Ok(msg) => {
                keep(received, msg);
                received += 1;
            }
            Err(zmq::Error::EAGAIN) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Err(e) => panic!("receive failed: {e}"),
        }
    }
    counted
}

#[test]
fn frames_dropped_once_received_let_the_arena_reuse_its_chunks() {
    // 20,000 messages of 64 bytes are 156 chunks of the arena; dropped in batches of 200
    // (what a driver delivers per wake), after the first few chunks every one is reused.
    const MESSAGES: usize = 20_000;
    let ctx = zmq::Context::new();
    let (client, mut rx) = pair(&ctx, "recv-alloc-reuse");
    for i in 0..MESSAGES {
        client.send(&[i as u8; 64][..], 0).unwrap();
    }
    let mut batch = Vec::with_capacity(200);
    let counted = receive_each(&mut rx, MESSAGES, |i, msg| {
        assert_eq!(&msg[0][..], &[i as u8; 64][..]);
        batch.push(msg);
        if batch.len() == 200 {
            for (j, msg) in batch.drain(..).enumerate() {
                // Still intact when dropped: no chunk was reused under a live frame.
                assert_eq!(&msg[0][..], &[(i + 1 - 200 + j) as u8; 64][..]);
            }
        }
    });
    assert!(
        counted <= 16,
        "{counted} allocations for {MESSAGES} received messages"
    );
}

#[test]
fn a_chunk_with_a_live_frame_is_never_reused() {
    // Keep one message in 50 for the whole run, drop the others at once: every chunk keeps a
    // live frame, so none may be filled again, and every kept frame must stay intact.
    const MESSAGES: usize = 10_000;
    let ctx = zmq::Context::new();
    let (client, mut rx) = pair(&ctx, "recv-alloc-live");
    for i in 0..MESSAGES {
        client.send(&[i as u8; 64][..], 0).unwrap();
    }
    let mut kept = Vec::new();
    let counted = receive_each(&mut rx, MESSAGES, |i, msg| {
        if i % 50 == 0 {
            kept.push((i, msg));
        }
    });
    for (i, msg) in &kept {
        assert_eq!(
            &msg[0][..],
            &[*i as u8; 64][..],
            "message {i} was overwritten"
        );
    }
    // Every chunk is new: 79 chunks of 128 frames, each with its shared header.
    assert!(
        counted >= MESSAGES / 128,
        "{counted} allocations: a chunk with a live frame was reused"
    );
}

#[test]
fn runs_of_two_frame_messages_are_received_in_reused_chunks() {
    // Runs of 250 messages of two 64-byte frames (31 KiB; a driver's run is up to 256
    // messages), which start anywhere in a chunk and so span four or five chunks of the
    // arena. Dropped run by run, every run after the first few fits in chunks already there
    // (79 allocations with three spare chunks instead of seven).
    const MESSAGES: usize = 256 * 40;
    let ctx = zmq::Context::new();
    let (client, mut rx) = pair(&ctx, "recv-alloc-runs");
    for i in 0..MESSAGES {
        client
            .send_multipart([&[i as u8; 64][..], &[!(i as u8); 64][..]], 0)
            .unwrap();
    }
    let mut run = Vec::with_capacity(256);
    let counted = receive_each(&mut rx, MESSAGES, |i, msg| {
        assert_eq!(&msg[0][..], &[i as u8; 64][..]);
        assert_eq!(&msg[1][..], &[!(i as u8); 64][..]);
        run.push(msg);
        if run.len() == 250 {
            run.clear();
        }
    });
    assert!(
        counted <= 24,
        "{counted} allocations for {MESSAGES} received messages"
    );
}
