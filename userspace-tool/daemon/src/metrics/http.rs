//! The smallest HTTP server a scraper needs: `GET /metrics` answers the
//! latest rendering, anything else an error, one request a connection, on
//! a thread of its own at the normal priority (never the membership's).
//! A client gets [`TIMEOUT`] to send its request and take the answer, so
//! a stuck one delays the next scrape at most that long.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::debug;

/// How long a client has for its request, and for taking the answer.
const TIMEOUT: Duration = Duration::from_secs(2);

/// The longest request head taken.
const MAX_HEAD: usize = 8192;

/// What OpenMetrics text is served as.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The endpoint's latest text, which the daemon replaces.
#[derive(Clone, Default)]
pub(crate) struct Published(Arc<Mutex<String>>);

impl Published {
    /// Serves from now on `text`.
    pub(crate) fn set(&self, text: String) {
        if let Ok(mut t) = self.0.lock() {
            *t = text;
        }
    }

    fn get(&self) -> String {
        self.0.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

/// Listens on `at` and serves what is published, on a thread; the
/// address bound (the port chosen, for port 0).
pub(crate) fn serve(at: SocketAddr, published: Published) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(at)?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for conn in listener.incoming() {
                match conn {
                    Ok(c) => {
                        if let Err(e) = answer(c, &published) {
                            debug!(%e, "metrics request");
                        }
                    }
                    Err(e) => debug!(%e, "metrics accept"),
                }
            }
        })?;
    Ok(bound)
}

/// Reads one request and answers it.
fn answer(mut c: TcpStream, published: &Published) -> std::io::Result<()> {
    c.set_read_timeout(Some(TIMEOUT))?;
    c.set_write_timeout(Some(TIMEOUT))?;
    let head = read_head(&mut c)?;
    let (status, body) = respond(&head, published);
    let (code, ctype) = match status {
        200 => ("200 OK", CONTENT_TYPE),
        404 => ("404 Not Found", "text/plain"),
        405 => ("405 Method Not Allowed", "text/plain"),
        _ => ("400 Bad Request", "text/plain"),
    };
    let allow = if status == 405 { "Allow: GET\r\n" } else { "" };
    write!(
        c,
        "HTTP/1.1 {code}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        body.len()
    )?;
    c.write_all(body.as_bytes())?;
    c.flush()
}

/// The request's head, up to its blank line.
fn read_head(c: &mut TcpStream) -> std::io::Result<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        let n = c.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// The status and body for a request head.
fn respond(head: &str, published: &Published) -> (u16, String) {
    let mut words = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET", "/metrics") => (200, published.get()),
        ("GET", _) => (404, "GET /metrics\n".into()),
        ("", _) => (400, "bad request\n".into()),
        _ => (405, "GET /metrics\n".into()),
    }
}
