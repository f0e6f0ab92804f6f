//! A small HTTP/1.1 keep-alive client for the load generator: one TCP
//! connection per worker, GET only, bodies read whole. It does no more than
//! wrk does per request, so the generator's share of the 2 cores stays
//! small and alike for every phase.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

/// One keep-alive connection.
pub struct Conn {
    stream: BufReader<TcpStream>,
    addr: SocketAddr,
    from: Option<IpAddr>,
    closed: bool,
}

impl Conn {
    /// Connects to `addr`, from the source address `from` when given (the
    /// rate-limit phase plays 16 clients on 127.0.0.2 and up).
    pub async fn open(addr: SocketAddr, from: Option<IpAddr>) -> std::io::Result<Conn> {
        let socket = TcpSocket::new_v4()?;
        if let Some(ip) = from {
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        let stream = socket.connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream: BufReader::with_capacity(64 * 1024, stream),
            addr,
            from,
            closed: false,
        })
    }

    /// `GET path`: the status and the body. Reconnects first if the server
    /// closed the connection after the last answer.
    pub async fn get(&mut self, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
        if self.closed {
            *self = Conn::open(self.addr, self.from).await?;
        }
        let req = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.addr);
        self.stream.get_mut().write_all(req.as_bytes()).await?;
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(format!("status line {line:?}")))?;
        let (mut length, mut chunked) = (None, false);
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err(bad("closed in the headers".into()));
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let Some((k, v)) = l.split_once(':') else {
                continue;
            };
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            match k.as_str() {
                "content-length" => length = v.parse().ok(),
                "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
                "connection" => self.closed = v.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.stream.read_line(&mut line).await?;
                let n = usize::from_str_radix(line.trim(), 16)
                    .map_err(|_| bad(format!("chunk size {line:?}")))?;
                let start = body.len();
                body.resize(start + n + 2, 0);
                self.stream.read_exact(&mut body[start..]).await?;
                body.truncate(start + n);
                if n == 0 {
                    break;
                }
            }
        } else {
            body.resize(length.unwrap_or(0), 0);
            self.stream.read_exact(&mut body).await?;
        }
        Ok((status, body))
    }
}

fn bad(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

/// Whether an answer counts as done.
pub type Check = fn(u16, &[u8]) -> bool;

/// What one phase measured.
#[derive(Default)]
pub struct Sample {
    /// Answers that passed the check.
    pub ok: u64,
    /// Answers that did not, and transport errors.
    pub errors: u64,
    /// Latency of every answer, µs.
    pub latencies_us: Vec<u32>,
    /// Wall time of the phase.
    pub elapsed: Duration,
}

impl Sample {
    fn add(&mut self, other: Sample) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.latencies_us.extend(other.latencies_us);
    }
}

async fn one(conn: &mut Conn, path: &str, check: Check, s: &mut Sample) {
    let t = Instant::now();
    match conn.get(path).await {
        Ok((status, body)) if check(status, &body) => s.ok += 1,
        _ => s.errors += 1,
    }
    s.latencies_us
        .push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
}

/// `conns` connections send requests for `secs`, each asking
/// `path(n)` for the n-th request of the phase.
pub async fn timed(
    addr: SocketAddr,
    from: &[IpAddr],
    conns: usize,
    secs: u64,
    path: Arc<dyn Fn(u64) -> String + Send + Sync>,
    check: Check,
) -> Sample {
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..conns {
        let (stop, next, path) = (stop.clone(), next.clone(), path.clone());
        let src = (!from.is_empty()).then(|| from[i % from.len()]);
        tasks.push(tokio::spawn(async move {
            let mut s = Sample::default();
            let Ok(mut conn) = Conn::open(addr, src).await else {
                s.errors += 1;
                return s;
            };
            while !stop.load(Ordering::Relaxed) {
                let n = next.fetch_add(1, Ordering::Relaxed);
                one(&mut conn, &path(n), check, &mut s).await;
            }
            s
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = Sample::default();
    for t in tasks {
        if let Ok(s) = t.await {
            total.add(s);
        }
    }
    total.elapsed = started.elapsed();
    total
}

/// Every path once, `conns` at a time.
pub async fn each(addr: SocketAddr, conns: usize, paths: Vec<String>, check: Check) -> Sample {
    let paths = Arc::new(paths);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (paths, next) = (paths.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut s = Sample::default();
            let Ok(mut conn) = Conn::open(addr, None).await else {
                s.errors += 1;
                return s;
            };
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(p) = paths.get(n) else { break };
                one(&mut conn, p, check, &mut s).await;
            }
            s
        }));
    }
    let mut total = Sample::default();
    for t in tasks {
        if let Ok(s) = t.await {
            total.add(s);
        }
    }
    total.elapsed = started.elapsed();
    total
}

/// All `paths` at the same moment, one connection each (opened first):
/// the race phase's simultaneous callbacks.
pub async fn burst(addr: SocketAddr, paths: &[String], check: Check) -> Sample {
    let barrier = Arc::new(tokio::sync::Barrier::new(paths.len()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for p in paths {
        let (barrier, p) = (barrier.clone(), p.clone());
        tasks.push(tokio::spawn(async move {
            let mut s = Sample::default();
            let conn = Conn::open(addr, None).await;
            barrier.wait().await;
            match conn {
                Ok(mut c) => one(&mut c, &p, check, &mut s).await,
                Err(_) => s.errors += 1,
            }
            s
        }));
    }
    let mut total = Sample::default();
    for t in tasks {
        if let Ok(s) = t.await {
            total.add(s);
        }
    }
    total.elapsed = started.elapsed();
    total
}
