//! CURVE security: a server and a client with certificates, the authenticator admitting the
//! client keys of a directory, one request and its reply, then a client with a key nobody
//! listed, refused; the server's monitor reports the refusal.
//!
//! Run it with `cargo run -p zmqio --example curve`. It needs a libzmq with CURVE: the `zmq`
//! crate's vendored build has none, and there the example says so and ends (the README's
//! "Getting CURVE" section shows how to link one that has it).

use std::path::{Path, PathBuf};
use std::time::Duration;

use zmqio::auth::{create_certificates, Certificate, CurveAllow};
use zmqio::{opt, MonitorEvent, SocketType, ZmqStream};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main]
async fn main() -> Result<()> {
    if zmqio::zmq::has("curve") != Some(true) {
        // Every CURVE call fails loudly there; nothing falls back to clear text.
        let refusal = Certificate::generate().expect_err("no CURVE, so no key pair");
        println!("CURVE is unavailable, so this example stops here: {refusal}.");
        println!("See \"Getting CURVE\" in zmqio's README.md to link a libzmq that has it.");
        return Ok(());
    }

    // Sockets with security of their own, on a context of their own: the authenticator
    // serves every socket of the context it is started on.
    let ctx = zmqio::zmq::Context::new();
    let certs = TempDir::new("zmqio-curve-example")?;
    tokio::time::timeout(Duration::from_secs(30), run(&ctx, certs.path()))
        .await
        .map_err(|_| "the example did not finish within 30 s")??;
    // Closes what is left on the context, waits until it is flushed, ends the context.
    zmqio::shutdown_context(ctx, Duration::from_secs(5)).await?;
    Ok(())
}

async fn run(ctx: &zmqio::zmq::Context, dir: &Path) -> Result<()> {
    // Certificates as czmq and pyzmq write them: NAME.key (public) and NAME.key_secret.
    let keys = dir.join("keys");
    let clients = dir.join("clients"); // the public certificates of admitted clients
    std::fs::create_dir_all(&keys)?;
    std::fs::create_dir_all(&clients)?;
    let (_, server_secret) = create_certificates(&keys, "server")?;
    let (client_public, client_secret) = create_certificates(&keys, "client")?;
    let (_, stranger_secret) = create_certificates(&keys, "stranger")?;
    std::fs::copy(&client_public, clients.join("client.key"))?;

    // The authenticator first: a CURVE server on a context without one would admit any key,
    // so the builder refuses to make it.
    let auth = zmqio::start_authenticator(ctx).await?;
    auth.configure_curve("*", CurveAllow::from_directory(&clients)?);

    let server_cert = Certificate::load(&server_secret)?;
    let mut server = zmqio::create_zmq_stream(SocketType::REP)
        .context(ctx.clone())
        .setsockopt(opt::CurveServer, true)
        .setsockopt(opt::CurveSecretKey, secret_key(&server_cert)?)
        .bind("tcp://127.0.0.1:*")
        .await?;
    let endpoint = server.bound_endpoint().expect("bound above");
    server
        .transport()
        .enable_monitor(Some(
            MonitorEvent::HandshakeSucceeded | MonitorEvent::HandshakeFailedAuth,
        ))
        .await?;
    println!("CURVE server on {endpoint}");

    // The admitted client: one request, one reply, encrypted.
    let mut client = curve_client(ctx, &server_cert, &client_secret, &endpoint).await?;
    client.write("hello")?;
    let request = server.read().await?;
    server.write(request[0].to_ascii_uppercase())?;
    let reply = client.read().await?;
    println!("client got {:?}", String::from_utf8_lossy(&reply[0]));
    let event = server.read_event().await?;
    println!("server monitor: {:?} (client admitted)", event.event);

    // A client with a key nobody listed: its handshake is refused, so its request never
    // reaches the server, and the server's monitor says why (ZAP status 400).
    let stranger = curve_client(ctx, &server_cert, &stranger_secret, &endpoint).await?;
    stranger.write("let me in")?;
    let event = server.read_event().await?;
    println!(
        "server monitor: {:?}, status {} (stranger refused)",
        event.event, event.value
    );
    assert_eq!(event.event, MonitorEvent::HandshakeFailedAuth);
    assert_eq!(event.value, 400);
    println!(
        "authenticator: {} admitted, {} refused",
        auth.accepted(),
        auth.refused()
    );

    stranger.close();
    client.close();
    server.close();
    auth.stop().await;
    Ok(())
}

/// A REQ client with the key pair of the certificate file `secret`, knowing the server's
/// public key.
async fn curve_client(
    ctx: &zmqio::zmq::Context,
    server: &Certificate,
    secret: &Path,
    endpoint: &str,
) -> Result<ZmqStream> {
    let cert = Certificate::load(secret)?;
    Ok(zmqio::create_zmq_stream(SocketType::REQ)
        .context(ctx.clone())
        .setsockopt(opt::CurveServerKey, server.public_key.to_vec())
        .setsockopt(opt::CurvePublicKey, cert.public_key.to_vec())
        .setsockopt(opt::CurveSecretKey, secret_key(&cert)?)
        // A refused client's request stays queued in libzmq: let the socket go without it
        // when it closes, rather than hold up the context's end.
        .setsockopt(opt::Linger, 0)
        .connect(endpoint)
        .await?)
}

fn secret_key(cert: &Certificate) -> Result<Vec<u8>> {
    Ok(cert
        .secret_key
        .ok_or("a public certificate has no secret key")?
        .to_vec())
}

/// A directory removed, with what it holds, when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> std::io::Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir)?;
        Ok(Self(dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
