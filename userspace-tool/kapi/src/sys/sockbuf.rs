//! Socket buffers past the system's limits (`rmem_max`, `wmem_max`) where
//! we may (CAP_NET_ADMIN: `SO_RCVBUFFORCE`, `SO_SNDBUFFORCE`), within them
//! where not.

use std::os::fd::RawFd;

/// Which buffer.
#[derive(Clone, Copy, Debug)]
pub enum Buf {
    /// The receive buffer (`SO_RCVBUF`).
    Receive,
    /// The send buffer (`SO_SNDBUF`).
    Send,
}

/// Asks for `bytes` of buffer `which` on socket `fd` (the kernel doubles
/// it for its bookkeeping); the error of the last try if none worked.
pub fn grow(fd: RawFd, which: Buf, bytes: usize) -> std::io::Result<()> {
    let size = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    let opts = match which {
        Buf::Receive => [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF],
        Buf::Send => [libc::SO_SNDBUFFORCE, libc::SO_SNDBUF],
    };
    let mut err = None;
    for opt in opts {
        // SAFETY: `size` is a c_int that outlives the call, and its size
        // is the one given; a bad fd only makes the call fail.
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                std::ptr::from_ref(&size).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == 0 {
            return Ok(());
        }
        err = Some(std::io::Error::last_os_error());
    }
    Err(err.unwrap_or_else(|| std::io::Error::other("no socket option")))
}

/// Room for 16 MiB of messages on netlink socket `fd`, past the system's
/// limit where we may: a notification the kernel cannot queue is lost,
/// and a lost queued packet would wait for ever.
pub fn grow_netlink(fd: RawFd) {
    let _ = grow(fd, Buf::Receive, 16 << 20);
}
