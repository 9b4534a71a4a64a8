//! ipcluster's example failover-aware service.
//!
//! `echo-member NAME HANDOFF ADDR:PORT...` listens on each ADDR:PORT (the
//! cluster address) and greets each new connection with `NAME`, then
//! answers every line it receives with `NAME`: a client sees which member
//! serves it. It also takes the connections the ipcluster daemon restores
//! after a member's death, from the unix socket HANDOFF (the daemon's
//! `[tcp] handoff` path for these ports), and serves them the same way
//! without a greeting: the client is mid-conversation, and its next line
//! is answered by the new member.
//!
//! An address given as `raw:ADDR:PORT` is served as a plain echo instead:
//! every byte back as it came, no greeting (for byte-exact streams across
//! a failover).

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;

/// Every byte back, as it came. Without Nagle's delay: what the service
/// has read it answers in segments at once, so that what it wrote is on
/// the wire (and replicated) rather than waiting in its socket when its
/// member dies — bytes a socket holds unsent are not replicated.
fn echo(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut buf = [0u8; 16384];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 || out.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

fn serve(name: String, stream: TcpStream, greet: bool) {
    let reply = format!("{name}\n");
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    if greet && out.write_all(reply.as_bytes()).is_err() {
        return;
    }
    for line in BufReader::new(stream).lines() {
        if line.is_err() || out.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [name, handoff, addrs @ ..] = args.as_slice() else {
        eprintln!("usage: echo-member NAME HANDOFF [raw:]ADDR:PORT...");
        return ExitCode::from(2);
    };
    let mut raw_ports = HashSet::new();
    for addr in addrs {
        let (raw, addr) = match addr.strip_prefix("raw:") {
            Some(a) => (true, a),
            None => (false, addr.as_str()),
        };
        let l = match TcpListener::bind(addr) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("echo-member: {addr}: {e}");
                return ExitCode::FAILURE;
            }
        };
        if raw {
            if let Ok(a) = l.local_addr() {
                raw_ports.insert(a.port());
            }
        }
        let name = name.clone();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let name = name.clone();
                match raw {
                    true => std::thread::spawn(move || echo(s)),
                    false => std::thread::spawn(move || serve(name, s, true)),
                };
            }
        });
    }
    let h = match ipcluster_handoff::Listener::bind(handoff) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("echo-member: {handoff}: {e}");
            return ExitCode::FAILURE;
        }
    };
    loop {
        match h.accept() {
            Ok((s, port)) if raw_ports.contains(&port) => {
                std::thread::spawn(move || echo(s));
            }
            Ok((s, _port)) => {
                let name = name.clone();
                std::thread::spawn(move || serve(name, s, false));
            }
            Err(e) => eprintln!("echo-member: handoff: {e}"),
        }
    }
}
