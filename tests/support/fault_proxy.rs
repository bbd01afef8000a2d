//! A TCP proxy that injects faults (latency, throttling, resets, stalls, refusals) between walden and a server.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

/// What the proxy does to the bytes it carries. Changed at any time with
/// [`FaultProxy::set`]; open connections pick the change up at their next chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forward faithfully.
    None,
    /// Sleep this long before forwarding each chunk, in each direction.
    Latency(Duration),
    /// Throttle each direction of each connection to this many bytes a second.
    RateLimit { bytes_per_sec: u64 },
    /// Reset (RST) a connection once it has carried `bytes` bytes, both
    /// directions counted, for the next `times` connections that get that
    /// far (`None`: every one); after that, connections are left alone.
    ResetAfter { bytes: u64, times: Option<u32> },
    /// Accept and read, but forward nothing either way until the fault changes.
    Stall,
    /// Reset new connections as soon as they are accepted, and open ones now,
    /// as if the server had gone away.
    Refuse,
}

/// Counters since the proxy started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Connections accepted and proxied (not those refused).
    pub accepted: u64,
    /// Connections reset by `ResetAfter` or by `Refuse` while open.
    pub reset: u64,
    /// Connections reset on arrival under `Refuse`.
    pub refused: u64,
}

struct Shared {
    upstream: SocketAddr,
    fault: watch::Sender<Fault>,
    // Resets still to do under the current ResetAfter (None: unlimited).
    reset_budget: Mutex<Option<u32>>,
    accepted: AtomicU64,
    reset: AtomicU64,
    refused: AtomicU64,
}

impl Shared {
    /// Whether a connection that just reached the ResetAfter point is reset.
    fn take_reset(&self) -> bool {
        let mut budget = self.reset_budget.lock().unwrap_or_else(|e| e.into_inner());
        match budget.as_mut() {
            None => true,
            Some(0) => false,
            Some(n) => {
                *n -= 1;
                true
            }
        }
    }
}

/// A running proxy on 127.0.0.1; dropping it stops it and closes its connections.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` on a free port, forwarding faithfully.
    pub fn start(upstream: SocketAddr) -> FaultProxy {
        let (fault, _) = watch::channel(Fault::None);
        let shared = Arc::new(Shared {
            upstream,
            fault,
            reset_budget: Mutex::new(None),
            accepted: AtomicU64::new(0),
            reset: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        });
        // Bound here rather than on the proxy's thread so the port is known
        // (and already accepting) when start returns.
        let std_listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("fault proxy binds 127.0.0.1:0");
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel();
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fault-proxy-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("fault proxy runtime");
                rt.block_on(async move {
                    let listener = TcpListener::from_std(std_listener).unwrap();
                    tokio::select! {
                        _ = accept_loop(listener, thread_shared) => {}
                        _ = stopped => {}
                    }
                });
                // Dropping the runtime drops every connection task, closing its sockets.
            })
            .expect("fault proxy thread");
        FaultProxy {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, for an endpoint setting.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Changes the fault for new connections and open ones.
    pub fn set(&self, fault: Fault) {
        if let Fault::ResetAfter { times, .. } = fault {
            *self
                .shared
                .reset_budget
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = times;
        }
        self.shared.fault.send_replace(fault);
    }

    pub fn fault(&self) -> Fault {
        *self.shared.fault.borrow()
    }

    pub fn stats(&self) -> ProxyStats {
        ProxyStats {
            accepted: self.shared.accepted.load(Ordering::SeqCst),
            reset: self.shared.reset.load(Ordering::SeqCst),
            refused: self.shared.refused.load(Ordering::SeqCst),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            // EMFILE and the like: back off rather than spin.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        if *shared.fault.borrow() == Fault::Refuse {
            shared.refused.fetch_add(1, Ordering::SeqCst);
            reset(client);
            continue;
        }
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(connection(client, shared.clone()));
    }
}

/// Closes with RST rather than FIN, as a crashed peer or a middlebox would.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

enum Outcome {
    /// This direction saw EOF and passed it on.
    Done,
    /// A fault says reset the connection.
    Reset,
    /// A peer went away mid-stream: pass that on as a reset too.
    Broken,
}

async fn connection(mut client: TcpStream, shared: Arc<Shared>) {
    let Ok(mut upstream) = TcpStream::connect(shared.upstream).await else {
        reset(client);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let carried = AtomicU64::new(0);
    let outcome = {
        // Borrowed halves: unlike into_split's, they do not send FIN when
        // dropped, so a reset below is a bare RST.
        let (mut cr, mut cw) = client.split();
        let (mut ur, mut uw) = upstream.split();
        let up = pump(&mut cr, &mut uw, &shared, &carried);
        let down = pump(&mut ur, &mut cw, &shared, &carried);
        tokio::pin!(up, down);
        let mut faults = shared.fault.subscribe();
        let (mut up_done, mut down_done) = (false, false);
        loop {
            tokio::select! {
                o = &mut up, if !up_done => match o {
                    Outcome::Done => up_done = true,
                    o => break o,
                },
                o = &mut down, if !down_done => match o {
                    Outcome::Done => down_done = true,
                    o => break o,
                },
                // Refuse also kills idle connections, which no pump would notice.
                changed = faults.changed() => {
                    if changed.is_err() {
                        break Outcome::Broken;
                    }
                    if *faults.borrow_and_update() == Fault::Refuse {
                        break Outcome::Reset;
                    }
                }
            }
            if up_done && down_done {
                break Outcome::Done;
            }
        }
    };
    match outcome {
        Outcome::Done => {}
        Outcome::Reset => {
            shared.reset.fetch_add(1, Ordering::SeqCst);
            reset(client);
            reset(upstream);
        }
        Outcome::Broken => {
            reset(client);
            reset(upstream);
        }
    }
}

/// Copies one direction chunk by chunk, applying the current fault to each.
async fn pump<R, W>(reader: &mut R, writer: &mut W, shared: &Shared, carried: &AtomicU64) -> Outcome
where
    R: AsyncReadExt + Unpin,
    W: AsyncWriteExt + Unpin,
{
    let mut faults = shared.fault.subscribe();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        // Small reads under a rate limit keep the pacing smooth.
        let limit = match *faults.borrow() {
            Fault::RateLimit { bytes_per_sec } => (bytes_per_sec / 10).clamp(1, buf.len() as u64),
            _ => buf.len() as u64,
        } as usize;
        let n = match reader.read(&mut buf[..limit]).await {
            Ok(0) => {
                // Pass the half-close on: an HTTP peer may still answer.
                let _ = writer.shutdown().await;
                return Outcome::Done;
            }
            Ok(n) => n,
            Err(_) => return Outcome::Broken,
        };
        // A chunk read during a stall waits it out, then goes on under
        // whatever fault follows, so lifting a stall loses nothing.
        let fault = loop {
            match *faults.borrow_and_update() {
                Fault::Stall => {}
                Fault::Refuse => return Outcome::Reset,
                fault => break fault,
            }
            if faults.changed().await.is_err() {
                return Outcome::Broken;
            }
        };
        let before = carried.fetch_add(n as u64, Ordering::SeqCst);
        match fault {
            Fault::Latency(delay) => tokio::time::sleep(delay).await,
            Fault::ResetAfter { bytes, .. }
                if before < bytes && before + n as u64 >= bytes && shared.take_reset() =>
            {
                // Deliver exactly up to the limit, then cut.
                let allowed = (bytes - before) as usize;
                let _ = writer.write_all(&buf[..allowed]).await;
                let _ = writer.flush().await;
                return Outcome::Reset;
            }
            _ => {}
        }
        if writer.write_all(&buf[..n]).await.is_err() {
            return Outcome::Broken;
        }
        if let Fault::RateLimit { bytes_per_sec } = fault {
            let secs = n as f64 / bytes_per_sec.max(1) as f64;
            tokio::time::sleep(Duration::from_secs_f64(secs)).await;
        }
    }
}
