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
//! Both ends check the other, since whoever holds either end holds the
//! cluster's connections. The daemon hands over only to a socket that
//! nobody but its owner could have put there ([`check_receiver`]: the
//! socket is owned by root or by the owner of its directory, and that
//! directory is writable by nobody else), so a user cannot bind the path
//! first in a shared directory such as `/tmp`. The application takes
//! connections only from root ([`Listener`] asks the kernel for each
//! sender's credentials), so a local user who can reach the socket cannot
//! pass it connections of its own making.
//!
//! ```no_run
//! let handoff = ipcluster_handoff::Listener::bind("/run/echo/handoff.sock")?;
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
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::Duration;

/// Where an application receives restored connections.
pub struct Listener {
    sock: UnixDatagram,
}

impl Listener {
    /// Listens at `path`, replacing a stale socket left there (but no
    /// other kind of file), and taking connections only from root.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref();
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path)?,
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists and is no socket", path.display()),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let sock = UnixDatagram::bind(path)?;
        set_int(&sock, libc::SOL_SOCKET, libc::SO_PASSCRED, 1)?;
        // Writable by all: the daemon connects as root without
        // CAP_DAC_OVERRIDE (its systemd unit drops it), and whatever
        // anyone else sends is dropped by the credentials check.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
        Ok(Listener { sock })
    }

    /// The next restored connection and the cluster port it is for.
    /// Messages that are not handoffs, or that come from a process not
    /// running as root, are dropped with any descriptors they carry.
    pub fn accept(&self) -> io::Result<(TcpStream, u16)> {
        loop {
            if let Some((fd, port)) = recv_fd(&self.sock)? {
                return Ok((TcpStream::from(fd), port));
            }
        }
    }
}

/// Whether the daemon may hand connections to the socket at `path`: it
/// must be a socket, owned by root or by the owner of its directory, in a
/// directory that neither its group nor others may write to. Otherwise
/// another user could have bound the path before the application did.
pub fn check_receiver(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    let refuse = |why: &str| {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("hand-off socket {}: {why}", path.display()),
        ))
    };
    let sock = std::fs::symlink_metadata(path)?;
    if !sock.file_type().is_socket() {
        return refuse("not a socket");
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = std::fs::metadata(dir.unwrap_or(Path::new(".")))?;
    if dir.mode() & 0o022 != 0 {
        return refuse("its directory is writable by group or others");
    }
    if sock.uid() != 0 && sock.uid() != dir.uid() {
        return refuse("owned by a user other than its directory's owner");
    }
    Ok(())
}

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.sock.as_raw_fd()
    }
}

/// Room for one file descriptor's control message.
const CMSG_ROOM: usize = 64;

/// Hands connection `fd` of cluster port `port` to the application
/// listening at `path`, once [`check_receiver`] accepts it, waiting at
/// most `wait` for room in the application's queue.
pub fn send(
    path: impl AsRef<Path>,
    fd: BorrowedFd<'_>,
    port: u16,
    wait: Duration,
) -> io::Result<()> {
    check_receiver(&path)?;
    let sock = UnixDatagram::unbound()?;
    sock.set_write_timeout(Some(wait))?;
    sock.connect(path)?;
    let mut data = port.to_be_bytes();
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // u64s: a cmsghdr must be aligned.
    let mut cbuf = [0u64; CMSG_ROOM / 8];
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

/// Sets integer socket option `opt` at `level` to `v`.
fn set_int(
    sock: &UnixDatagram,
    level: libc::c_int,
    opt: libc::c_int,
    v: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `v` lives for the call and its size is passed with it.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            opt,
            (&v as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Room for the control messages of one handoff: a few descriptors (a
/// sender may attach more than one; all are taken and closed) and the
/// sender's credentials.
const RECV_ROOM: usize = 256;

/// What one received message carried.
#[derive(Default)]
struct Received {
    fds: Vec<OwnedFd>,
    uid: Option<u32>,
}

/// One handoff message: the descriptor and the port, if it is one from
/// root. Anything else is dropped, its descriptors closed.
fn recv_fd(sock: &UnixDatagram) -> io::Result<Option<(OwnedFd, u16)>> {
    let mut data = [0u8; 2];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    let mut cbuf = [0u64; RECV_ROOM / 8];
    // SAFETY: msghdr is plain data; all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = RECV_ROOM;
    // SAFETY: `msg` points at live buffers for the call; the socket is
    // open. MSG_CMSG_CLOEXEC: the received descriptors are not inherited.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut got = parse_control(&msg);
    if n != 2 || got.uid != Some(0) || got.fds.is_empty() {
        return Ok(None); // not ours: the descriptors close on drop
    }
    Ok(Some((got.fds.swap_remove(0), u16::from_be_bytes(data))))
}

/// The descriptors and credentials in a received message's control data.
fn parse_control(msg: &libc::msghdr) -> Received {
    let mut got = Received::default();
    // SAFETY: the kernel filled `msg` and its control buffer; the CMSG_*
    // walk stays within msg_controllen; an SCM_RIGHTS message's data holds
    // ints that are descriptors now ours (each taken exactly once), and an
    // SCM_CREDENTIALS message's data a ucred.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            let data = libc::CMSG_DATA(c);
            let len = (*c).cmsg_len - (data as usize - c as usize);
            match ((*c).cmsg_level, (*c).cmsg_type) {
                (libc::SOL_SOCKET, libc::SCM_RIGHTS) => {
                    for i in 0..len / size_of::<libc::c_int>() {
                        let p = data.cast::<libc::c_int>().add(i);
                        got.fds
                            .push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(p)));
                    }
                }
                (libc::SOL_SOCKET, libc::SCM_CREDENTIALS) if len >= size_of::<libc::ucred>() => {
                    let cred = std::ptr::read_unaligned(data.cast::<libc::ucred>());
                    got.uid = Some(cred.uid);
                }
                _ => {}
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    got
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::path::PathBuf;

    const WAIT: Duration = Duration::from_secs(1);

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ipcluster-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    fn root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    #[test]
    fn a_connection_crosses_to_the_application() {
        if !root() {
            eprintln!("skipped: the application takes connections from root only");
            return;
        }
        let dir = scratch("handoff");
        let path = dir.join("app.sock");
        let app = Listener::bind(&path).unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (server, _) = l.accept().unwrap();
        send(&path, std::os::fd::AsFd::as_fd(&server), 7000, WAIT).unwrap();
        drop(server); // the daemon's copy goes; the application's stays
        let (mut got, port) = app.accept().unwrap();
        assert_eq!(port, 7000);
        client.write_all(b"hi").unwrap();
        let mut buf = [0u8; 2];
        got.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hi");
        // Binding again over the old socket file works; over another
        // kind of file it does not.
        drop(app);
        Listener::bind(&path).unwrap();
        let file = dir.join("file");
        std::fs::write(&file, b"x").unwrap();
        assert!(Listener::bind(&file).is_err());
        assert!(file.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn no_handoff_to_a_socket_others_could_have_bound() {
        let dir = scratch("shared");
        let path = dir.join("app.sock");
        let _app = Listener::bind(&path).unwrap();
        check_receiver(&path).unwrap();
        // A directory anyone may write to, as /tmp: whoever bound first
        // would get the connections.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let e = check_receiver(&path).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert!(e.to_string().contains("writable by group or others"), "{e}");
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let fd = std::os::fd::AsFd::as_fd(&l);
        assert!(send(&path, fd, 7000, WAIT).is_err());
        // Not a socket.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let file = dir.join("file");
        std::fs::write(&file, b"x").unwrap();
        assert!(check_receiver(&file)
            .unwrap_err()
            .to_string()
            .contains("not a socket"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_application_takes_connections_from_root_only() {
        if !root()
            || std::process::Command::new("setpriv")
                .arg("--help")
                .output()
                .is_err()
        {
            eprintln!("skipped: needs root and setpriv");
            return;
        }
        let dir = scratch("creds");
        let path = dir.join("app.sock");
        let app = Listener::bind(&path).unwrap();
        // A handoff-shaped message from nobody (a descriptor and a port),
        // then a genuine one from root: only root's comes through.
        let script = "import socket,sys; s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM); \
                      s.connect(sys.argv[1]); socket.send_fds(s,[bytes([0x1b,0x59])],[0,1,2])";
        let st = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .args(["/usr/bin/python3", "-c", script])
            .arg(&path)
            .status()
            .unwrap();
        assert!(st.success());
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        send(&path, std::os::fd::AsFd::as_fd(&l), 7000, WAIT).unwrap();
        let (_, port) = app.accept().unwrap();
        assert_eq!(port, 7000, "nobody's message (port 7001) was taken");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
