//! ipcluster TCP survival, the application's side.
//!
//! When a cluster member dies, the daemon of the member that takes over
//! each of its buckets rebuilds its TCP connections (`TCP_REPAIR`) and
//! hands each one, as a connected socket, to the local application serving
//! its port, over a unix socket the application listens on (the path is
//! the daemon's `[tcp] handoff` setting for that port). Each handoff is one
//! datagram-sized message: the port as two bytes, big-endian, with the
//! socket attached (`SCM_RIGHTS`).
//!
//! ```no_run
//! let handoff = ipcluster_handoff::Listener::bind("/run/echo.handoff")?;
//! loop {
//!     let (stream, _port) = handoff.accept()?; // a std::net::TcpStream
//!     // serve it like any accepted connection (no greeting: the client
//!     // is in the middle of its conversation)
//! #   drop(stream);
//! }
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::net::TcpStream;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::path::Path;

/// Where an application receives restored connections.
pub struct Listener {
    sock: UnixDatagram,
}

impl Listener {
    /// Listens at `path` (replacing a stale socket file left there).
    pub fn bind(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref();
        if path.exists() {
            std::fs::remove_file(path)?;
        }
        Ok(Listener {
            sock: UnixDatagram::bind(path)?,
        })
    }

    /// The next restored connection and the cluster port it is for.
    pub fn accept(&self) -> io::Result<(TcpStream, u16)> {
        loop {
            if let Some((fd, port)) = recv_fd(&self.sock)? {
                return Ok((TcpStream::from(fd), port));
            }
        }
    }
}

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.sock.as_raw_fd()
    }
}

/// Room for one file descriptor's control message.
const CMSG_ROOM: usize = 64;

/// Hands connection `fd` of cluster port `port` to the application
/// listening at `path`.
pub fn send(path: impl AsRef<Path>, fd: BorrowedFd<'_>, port: u16) -> io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    sock.connect(path)?;
    let mut data = port.to_be_bytes();
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    let mut cbuf = [0u8; CMSG_ROOM];
    // SAFETY: msghdr is plain data; all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE only computes a size.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<libc::c_int>() as u32) } as usize;
    // SAFETY: `msg` describes `cbuf`, which has room for one cmsghdr and an
    // int (CMSG_SPACE above is well under CMSG_ROOM); the writes stay in it.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(size_of::<libc::c_int>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>(), fd.as_raw_fd());
    }
    // SAFETY: `msg` points at live buffers (`iov`, `data`, `cbuf`) for the
    // call; the socket is open.
    let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One handoff message: the descriptor and the port, if it carried one.
fn recv_fd(sock: &UnixDatagram) -> io::Result<Option<(OwnedFd, u16)>> {
    let mut data = [0u8; 2];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    let mut cbuf = [0u8; CMSG_ROOM];
    // SAFETY: msghdr is plain data; all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = CMSG_ROOM;
    // SAFETY: `msg` points at live buffers for the call; the socket is
    // open. MSG_CMSG_CLOEXEC: the received descriptor is not inherited.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut got = None;
    // SAFETY: the kernel filled `msg` and `cbuf`; the CMSG_* walk stays
    // within msg_controllen, and an SCM_RIGHTS message's data holds ints
    // that are descriptors now ours.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let fd = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>());
                let fd = OwnedFd::from_raw_fd(fd);
                if got.is_none() {
                    got = Some(fd);
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    if n != 2 {
        return Ok(None); // not ours: any descriptor is closed on drop
    }
    Ok(got.map(|fd| (fd, u16::from_be_bytes(data))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    #[test]
    fn a_connection_crosses_to_the_application() {
        let dir = std::env::temp_dir().join(format!("ipcluster-handoff-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("app.sock");
        let app = Listener::bind(&path).unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (server, _) = l.accept().unwrap();
        send(&path, std::os::fd::AsFd::as_fd(&server), 7000).unwrap();
        drop(server); // the daemon's copy goes; the application's stays
        let (mut got, port) = app.accept().unwrap();
        assert_eq!(port, 7000);
        client.write_all(b"hi").unwrap();
        let mut buf = [0u8; 2];
        got.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hi");
        // Binding again over the old socket file works.
        drop(app);
        Listener::bind(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
