//! The generic netlink transport: one socket to the `ipcluster` family,
//! requests (`NLM_F_REQUEST | NLM_F_ACK`), dumps (`NLM_F_DUMP`), and the
//! kernel's extended ACK turned into a readable error.
//!
//! Messages are built and parsed with `neli`; replies are received untyped
//! (`Nlmsghdr<u16, Buffer>`) so that the extended ACK attributes survive,
//! then the generic netlink header and attributes are parsed per message.

use std::io::Cursor;

use neli::{
    consts::{
        nl::{NlmF, NlmsgerrAttr},
        socket::NlFamily,
    },
    genl::{AttrTypeBuilder, Genlmsghdr, GenlmsghdrBuilder, Nlattr, NlattrBuilder},
    nl::{NlPayload, Nlmsghdr, NlmsghdrBuilder},
    socket::synchronous::NlSocketHandle,
    types::{Buffer, GenlBuffer},
    utils::Groups,
    FromBytesWithInput,
};

use crate::abi::{self, Cmd};
use crate::attr::{Attr, Attrs};
use crate::error::{strerror, Error};

/// `NLMSGERR_ATTR_*`: the extended ACK's attributes.
mod extack {
    /// Error message string.
    pub(super) const MSG: u16 = 1;
    /// Offset of the offending attribute in the request.
    pub(super) const OFFS: u16 = 2;
    /// Type of a missing attribute.
    pub(super) const MISS_TYPE: u16 = 5;
}

/// A generic netlink header and its attributes, untyped: command `u8`,
/// attribute types `u16`.
type Genl = Genlmsghdr<u8, u16>;

/// Size of `struct nlmsghdr` plus `struct genlmsghdr`: where attributes start.
const HEADERS: usize = 16 + 4;

/// An error the kernel answered a request with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KernelError {
    /// Positive errno.
    pub(crate) errno: i32,
    /// `NLMSGERR_ATTR_MSG`, the extack text.
    pub(crate) msg: Option<String>,
    /// `NLMSGERR_ATTR_OFFS`: offset of the offending attribute.
    pub(crate) offset: Option<u32>,
    /// `NLMSGERR_ATTR_MISS_TYPE`: a required attribute that was missing.
    pub(crate) missing: Option<u32>,
}

impl KernelError {
    fn from_extack(error: i32, tlvs: impl IntoIterator<Item = (u16, Vec<u8>)>) -> Self {
        let mut e = KernelError {
            errno: error.saturating_neg(),
            ..KernelError::default()
        };
        let u32_of = |d: &[u8]| d.try_into().ok().map(u32::from_ne_bytes);
        for (kind, data) in tlvs {
            match kind {
                extack::MSG => {
                    let text = data.split(|&b| b == 0).next().unwrap_or_default();
                    e.msg = Some(String::from_utf8_lossy(text).into_owned());
                }
                extack::OFFS => e.offset = u32_of(&data),
                extack::MISS_TYPE => e.missing = u32_of(&data),
                _ => {}
            }
        }
        e
    }

    /// "strerror: extack message (attribute name)", naming attributes from
    /// the request that `cmd` sent as `sent`.
    pub(crate) fn describe(&self, cmd: Option<Cmd>, sent: &[Attr]) -> String {
        let mut s = strerror(self.errno);
        if let Some(m) = self.msg.as_deref().filter(|m| !m.is_empty()) {
            s.push_str(": ");
            s.push_str(m);
        }
        let name = |kind: u16| {
            cmd.and_then(|c| abi::attr_name(c, kind))
                .map(str::to_string)
                .unwrap_or_else(|| format!("#{kind}"))
        };
        if let Some(kind) = self.missing {
            let kind = u16::try_from(kind).unwrap_or(u16::MAX);
            s.push_str(&format!(": missing attribute {}", name(kind)));
        } else if let Some(kind) = self.offset.and_then(|o| attr_at(sent, o as usize)) {
            s.push_str(&format!(" (attribute {})", name(kind)));
        }
        s
    }
}

/// The type of the attribute of `sent` that starts (or whose payload
/// starts) at byte `offset` of the request message.
fn attr_at(sent: &[Attr], offset: usize) -> Option<u16> {
    let mut at = HEADERS;
    for a in sent {
        let len = 4 + a.data.len();
        if (at..at + len).contains(&offset) {
            return Some(a.kind);
        }
        at += len.next_multiple_of(4);
    }
    None
}

/// The extended ACK's attributes as (type, payload) pairs.
fn tlvs(ext_ack: &GenlBuffer<NlmsgerrAttr, Buffer>) -> Vec<(u16, Vec<u8>)> {
    ext_ack
        .iter()
        .map(|a| {
            (
                u16::from(*a.nla_type().nla_type()),
                a.nla_payload().as_ref().to_vec(),
            )
        })
        .collect()
}

/// Why a transaction failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NlError {
    /// The kernel said no.
    Kernel(KernelError),
    /// The socket or the reply stream broke.
    Other(String),
}

fn other(what: &str, e: impl std::fmt::Display) -> NlError {
    NlError::Other(format!("{what}: {e}"))
}

/// Builds the request message for `cmd` of family `nl_type`.
pub(crate) fn build_request(
    nl_type: u16,
    cmd: u8,
    version: u8,
    flags: NlmF,
    seq: u32,
    attrs: &[Attr],
) -> Result<Nlmsghdr<u16, Genl>, NlError> {
    let attrs = attrs
        .iter()
        .map(|a| -> Result<Nlattr<u16, Buffer>, NlError> {
            NlattrBuilder::default()
                .nla_type(
                    AttrTypeBuilder::default()
                        .nla_type(a.kind)
                        .build()
                        .map_err(|e| other("attribute", e))?,
                )
                .nla_payload(Buffer::from(a.data.clone()))
                .build()
                .map_err(|e| other("attribute", e))
        })
        .collect::<Result<GenlBuffer<u16, Buffer>, _>>()?;
    let genl = GenlmsghdrBuilder::default()
        .cmd(cmd)
        .version(version)
        .attrs(attrs)
        .build()
        .map_err(|e| other("message", e))?;
    NlmsghdrBuilder::default()
        .nl_type(nl_type)
        .nl_flags(flags | NlmF::REQUEST)
        .nl_seq(seq)
        .nl_payload(NlPayload::Payload(genl))
        .build()
        .map_err(|e| other("message", e))
}

/// The wire bytes of a message.
#[cfg(test)]
pub(crate) fn to_bytes(msg: &Nlmsghdr<u16, Genl>) -> Result<Vec<u8>, NlError> {
    use neli::{Size, ToBytes};
    let mut c = Cursor::new(vec![0; msg.padded_size()]);
    msg.to_bytes(&mut c).map_err(|e| other("message", e))?;
    Ok(c.into_inner())
}

/// Where a reply stream stands after one more message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Keep reading.
    More,
    /// The ACK or `NLMSG_DONE` arrived.
    Done,
}

/// Collects the replies to one request.
#[derive(Debug)]
pub(crate) struct Replies {
    nl_type: u16,
    seq: u32,
    /// The attributes of each reply message, in order.
    pub(crate) msgs: Vec<Attrs>,
}

impl Replies {
    /// Replies of type `nl_type` to request `seq`.
    pub(crate) fn new(nl_type: u16, seq: u32) -> Self {
        Replies {
            nl_type,
            seq,
            msgs: Vec::new(),
        }
    }

    /// Takes one received message.
    pub(crate) fn feed(&mut self, m: Nlmsghdr<u16, Buffer>) -> Result<Step, NlError> {
        if *m.nl_seq() != self.seq {
            return Ok(Step::More); // a stale reply or a notification
        }
        let ty = *m.nl_type();
        let len = (*m.nl_len() as usize).saturating_sub(16);
        match m.nl_payload() {
            NlPayload::Ack(_) => Ok(Step::Done),
            NlPayload::Err(e) => Err(NlError::Kernel(KernelError::from_extack(
                *e.error(),
                tlvs(e.ext_ack()),
            ))),
            // NLMSG_DONE of a dump: its error code, and the extack if it failed.
            NlPayload::DumpExtAck(e) if *e.error() < 0 => Err(NlError::Kernel(
                KernelError::from_extack(*e.error(), tlvs(e.ext_ack())),
            )),
            NlPayload::DumpExtAck(_) => Ok(Step::Done),
            NlPayload::Empty => Ok(if ty == libc::NLMSG_DONE as u16 {
                Step::Done
            } else {
                Step::More
            }),
            NlPayload::Payload(p) => {
                if ty == libc::NLMSG_DONE as u16 {
                    return Ok(Step::Done);
                }
                if ty == libc::NLMSG_OVERRUN as u16 {
                    return Err(NlError::Other("netlink: overrun".into()));
                }
                if ty != self.nl_type {
                    return Ok(Step::More); // NLMSG_NOOP and the like
                }
                let g = Genl::from_bytes_with_input(&mut Cursor::new(p.as_ref()), len)
                    .map_err(|e| other("malformed reply", e))?;
                self.msgs.push(Attrs(
                    g.attrs()
                        .iter()
                        .map(|a| Attr {
                            kind: *a.nla_type().nla_type(),
                            data: a.nla_payload().as_ref().to_vec(),
                        })
                        .collect(),
                ));
                Ok(Step::More)
            }
        }
    }
}

/// A generic netlink socket bound to the `ipcluster` family.
pub struct Client {
    sock: NlSocketHandle,
    family: u16,
    seq: u32,
    /// The family's multicast groups: name and id.
    groups: Vec<(String, u32)>,
}

impl Client {
    /// Opens the socket and resolves the family; fails with "ipcluster
    /// module not loaded" when it is not registered.
    pub fn connect() -> Result<Self, Error> {
        Self::connect_to(abi::FAMILY_NAME)
    }

    /// [`Client::connect`] to any family (tests use the always-present
    /// `nlctrl`).
    fn connect_to(family: &str) -> Result<Self, Error> {
        let sock = NlSocketHandle::connect(NlFamily::Generic, None, Groups::empty())
            .map_err(|e| Error::failed(format!("netlink socket: {e}")))?;
        // Without it (kernels before 4.12) errors are plain errnos.
        let _ = sock.enable_ext_ack(true);
        let mut c = Client {
            sock,
            family: 0,
            seq: std::process::id().wrapping_shl(16),
            groups: Vec::new(),
        };
        let name = Attr::string(libc::CTRL_ATTR_FAMILY_NAME as u16, family);
        let reply = c.transact(
            libc::GENL_ID_CTRL as u16,
            libc::CTRL_CMD_GETFAMILY as u8,
            2,
            NlmF::ACK,
            std::slice::from_ref(&name),
        );
        let id = match reply {
            Ok(msgs) => {
                c.groups = msgs
                    .iter()
                    .filter_map(|a| a.get(libc::CTRL_ATTR_MCAST_GROUPS as u16))
                    .flat_map(mcast_groups)
                    .collect();
                msgs.iter()
                    .find_map(|a| a.get(libc::CTRL_ATTR_FAMILY_ID as u16))
                    .and_then(|d| d.try_into().ok().map(u16::from_ne_bytes))
            }
            Err(NlError::Kernel(e)) if e.errno == libc::ENOENT => None,
            Err(NlError::Kernel(e)) => {
                return Err(Error::failed(format!(
                    "resolving family \"{family}\": {}",
                    e.describe(None, &[])
                )))
            }
            Err(NlError::Other(m)) => return Err(Error::failed(m)),
        };
        c.family = id.ok_or_else(|| {
            Error::failed(format!(
                "{family} module not loaded (no generic netlink family \"{family}\")"
            ))
        })?;
        Ok(c)
    }

    fn transact(
        &mut self,
        nl_type: u16,
        cmd: u8,
        version: u8,
        flags: NlmF,
        attrs: &[Attr],
    ) -> Result<Vec<Attrs>, NlError> {
        self.seq = self.seq.wrapping_add(1);
        let msg = build_request(nl_type, cmd, version, flags, self.seq, attrs)?;
        self.sock.send(&msg).map_err(|e| other("netlink send", e))?;
        let mut replies = Replies::new(nl_type, self.seq);
        loop {
            let (msgs, _) = self
                .sock
                .recv::<u16, Buffer>()
                .map_err(|e| other("netlink receive", e))?;
            for m in msgs {
                let m = m.map_err(|e| other("netlink receive", e))?;
                if replies.feed(m)? == Step::Done {
                    return Ok(replies.msgs);
                }
            }
        }
    }

    fn run(&mut self, cmd: Cmd, flags: NlmF, attrs: &[Attr]) -> Result<Vec<Attrs>, Error> {
        self.transact(self.family, cmd as u8, abi::FAMILY_VERSION, flags, attrs)
            .map_err(|e| match e {
                NlError::Kernel(k) => Error::failed(k.describe(Some(cmd), attrs)),
                NlError::Other(m) => Error::failed(m),
            })
    }

    /// A `do` request: its reply messages (none for commands that only ACK).
    pub fn request(&mut self, cmd: Cmd, attrs: &[Attr]) -> Result<Vec<Attrs>, Error> {
        self.run(cmd, NlmF::ACK, attrs)
    }

    /// Joins the family's multicast group `name`; [`Client::next_event`]
    /// then returns its messages.
    pub fn subscribe(&mut self, name: &str) -> Result<(), Error> {
        let id = self
            .groups
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, id)| id)
            .ok_or_else(|| Error::failed(format!("no multicast group \"{name}\"")))?;
        self.sock
            .add_mcast_membership(Groups::new_groups(&[id]))
            .map_err(|e| Error::failed(format!("joining group {name}: {e}")))?;
        // A busy group (a segment's state each) must not overflow while
        // the reader waits its turn: room for a few seconds of it.
        crate::sys::sockbuf::grow_netlink(std::os::fd::AsRawFd::as_raw_fd(&self.sock));
        Ok(())
    }

    /// The next multicast message of the family: its command and attributes.
    pub fn next_event(&mut self) -> Result<(u8, Attrs), Error> {
        loop {
            let (msgs, _) = self
                .sock
                .recv::<u16, Buffer>()
                .map_err(|e| Error::failed(format!("netlink receive: {e}")))?;
            for m in msgs {
                let m = m.map_err(|e| Error::failed(format!("netlink receive: {e}")))?;
                if *m.nl_type() != self.family {
                    continue;
                }
                if let NlPayload::Payload(p) = m.nl_payload() {
                    let b: &[u8] = p.as_ref();
                    if let Some(event) = genl_event(b) {
                        return Ok(event);
                    }
                }
            }
        }
    }

    /// The family's multicast messages in the next datagram, read into
    /// `buf` (the caller's, reused: a busy group, one message per
    /// segment, must not cost an allocation or a zeroed buffer each), each
    /// passed to `f` as its command and its attributes' bytes (see
    /// [`attr_in`]). With `wait` false, returns `Ok(false)` at once when
    /// nothing is queued.
    pub fn read_events(
        &mut self,
        buf: &mut [u8],
        wait: bool,
        mut f: impl FnMut(u8, &[u8]),
    ) -> Result<bool, Error> {
        let fd = std::os::fd::AsRawFd::as_raw_fd(&self.sock);
        let flags = if wait { 0 } else { libc::MSG_DONTWAIT };
        // SAFETY: `buf` is writable for its whole length; the kernel
        // writes at most that much.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags) };
        let Ok(n) = usize::try_from(n) else {
            let e = std::io::Error::last_os_error();
            return match e.kind() {
                std::io::ErrorKind::WouldBlock => Ok(false),
                _ => Err(Error::failed(format!("netlink receive: {e}"))),
            };
        };
        for (ty, payload) in nl_messages(&buf[..n]) {
            if ty == self.family && payload.len() >= 4 {
                f(payload[0], &payload[4..]);
            }
        }
        Ok(n > 0)
    }

    /// A `dump` request: every reply message.
    pub fn dump(&mut self, cmd: Cmd, attrs: &[Attr]) -> Result<Vec<Attrs>, Error> {
        self.run(cmd, NlmF::DUMP, attrs)
    }
}

/// The messages of one netlink datagram: (type, payload) pairs; stops at
/// the first malformed header.
fn nl_messages(d: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    const HDR: usize = 16;
    let mut at = 0;
    std::iter::from_fn(move || {
        let h = d.get(at..at + HDR)?;
        let len = u32::from_ne_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let payload = d.get(at + HDR..at + len.max(HDR))?;
        if len < HDR {
            return None;
        }
        at += (len + 3) & !3;
        Some((u16::from_ne_bytes([h[4], h[5]]), payload))
    })
}

/// The first attribute of type `kind` in attributes' bytes `b`.
pub fn attr_in(b: &[u8], kind: u16) -> Option<&[u8]> {
    nested(b).find(|&(k, _)| k == kind).map(|(_, v)| v)
}

/// The attributes nested in `b`: (type, payload) pairs, read in place
/// (the export reader looks up two per message of a busy group).
fn nested(b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut at = Some(0);
    std::iter::from_fn(move || {
        let a = at?;
        let h = b.get(a..a + 4)?;
        let len = usize::from(u16::from_ne_bytes([h[0], h[1]]));
        let kind = u16::from_ne_bytes([h[2], h[3]]) & 0x3fff; // without NLA_F_*
        let payload = b.get(a + 4..a + len.max(4))?;
        // A header shorter than itself ends the list, after its own.
        at = (len >= 4).then_some(a + ((len + 3) & !3));
        Some((kind, payload))
    })
}

/// CTRL_ATTR_MCAST_GROUPS: every group's name and id.
fn mcast_groups(b: &[u8]) -> Vec<(String, u32)> {
    nested(b)
        .filter_map(|(_, g)| {
            let find = |k: i32| attr_in(g, k as u16);
            let name = find(libc::CTRL_ATTR_MCAST_GRP_NAME)?;
            let name = String::from_utf8_lossy(name.split(|&c| c == 0).next()?).into_owned();
            let id = u32::from_ne_bytes(find(libc::CTRL_ATTR_MCAST_GRP_ID)?.try_into().ok()?);
            Some((name, id))
        })
        .collect()
}

/// A generic netlink message's command and attributes (from its genl
/// header on).
fn genl_event(b: &[u8]) -> Option<(u8, Attrs)> {
    let cmd = *b.first()?;
    let attrs = nested(b.get(4..)?)
        .map(|(k, v)| Attr::bytes(k, v))
        .collect();
    Some((cmd, Attrs(attrs)))
}

/// Splits one received datagram into messages (what the socket does).
#[cfg(test)]
pub(crate) fn parse_datagram(bytes: &[u8]) -> Vec<Nlmsghdr<u16, Buffer>> {
    use neli::FromBytes;
    let mut c = Cursor::new(bytes);
    let mut v = Vec::new();
    while (c.position() as usize) < bytes.len() {
        v.push(Nlmsghdr::from_bytes(&mut c).expect("well-formed message"));
    }
    v
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::abi::cluster;

    /// A netlink message: header, then `body` (padded).
    pub(crate) fn nlmsg(ty: u16, flags: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(&flags.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&1234u32.to_ne_bytes());
        v.extend_from_slice(body);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    /// One attribute, padded.
    pub(crate) fn nla(kind: u16, data: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(data);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    /// A generic netlink reply with `attrs` (already encoded).
    pub(crate) fn genl_reply(family: u16, cmd: u8, flags: u16, seq: u32, attrs: &[u8]) -> Vec<u8> {
        let mut body = vec![cmd, 1, 0, 0];
        body.extend_from_slice(attrs);
        nlmsg(family, flags, seq, &body)
    }

    #[test]
    fn events_are_split_from_their_datagram_without_copies() {
        let attrs = [nla(1, &7u32.to_ne_bytes()), nla(9, b"records!")].concat();
        let d = [
            genl_reply(30, 5, 0, 0, &attrs),
            nlmsg(31, 0, 0, b"other family"),
            genl_reply(30, 6, 0, 0, &nla(9, b"x")),
        ]
        .concat();
        let got: Vec<(u16, &[u8])> = nl_messages(&d).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].0, 30);
        let a = &got[0].1[4..];
        assert_eq!(attr_in(a, 9), Some(&b"records!"[..]));
        assert_eq!(attr_in(a, 1), Some(&7u32.to_ne_bytes()[..]));
        assert_eq!(attr_in(a, 2), None);
        // A truncated datagram ends at its last whole message.
        assert_eq!(nl_messages(&d[..d.len() - 4]).count(), 2);
        // A header claiming less than itself ends it too.
        assert_eq!(nl_messages(&nlmsg(30, 0, 0, b"")[..8]).count(), 0);
        let mut bad = nlmsg(30, 0, 0, b"abcd");
        bad[..4].copy_from_slice(&3u32.to_ne_bytes());
        assert_eq!(nl_messages(&bad).count(), 0);
        // Attributes that run past their end are not read.
        let mut short = nla(9, b"abcd");
        short[..2].copy_from_slice(&40u16.to_ne_bytes());
        assert_eq!(attr_in(&short, 9), None);
    }

    /// Feeds a datagram and returns the last step (or the error).
    pub(crate) fn feed_all(r: &mut Replies, bytes: &[u8]) -> Result<Step, NlError> {
        let mut last = Step::More;
        for m in parse_datagram(bytes) {
            last = r.feed(m)?;
            if last == Step::Done {
                break;
            }
        }
        Ok(last)
    }

    fn ack(seq: u32, error: i32, request_len: u32, tlvs: &[u8]) -> Vec<u8> {
        let mut body = error.to_ne_bytes().to_vec();
        // The echoed request header...
        body.extend_from_slice(&request_len.to_ne_bytes());
        body.extend_from_slice(&30u16.to_ne_bytes());
        body.extend_from_slice(&5u16.to_ne_bytes());
        body.extend_from_slice(&seq.to_ne_bytes());
        body.extend_from_slice(&0u32.to_ne_bytes());
        // ...and, for errors, its payload.
        if error != 0 {
            body.extend(std::iter::repeat_n(0xaa, request_len as usize - 16));
        }
        body.extend_from_slice(tlvs);
        let flags = if tlvs.is_empty() { 0 } else { 0x200 }; // NLM_F_ACK_TLVS
        nlmsg(libc::NLMSG_ERROR as u16, flags, seq, &body)
    }

    #[test]
    fn request_layout() {
        let attrs = [
            Attr::u32(cluster::ID, 7),
            Attr::bytes(cluster::ADDR4, &[192, 168, 0, 1]),
            Attr::bytes(cluster::MAC, &[1, 0, 0x5e, 0x28, 0, 1]),
        ];
        let msg = build_request(30, Cmd::ClusterNew as u8, 1, NlmF::ACK, 42, &attrs).unwrap();
        let b = to_bytes(&msg).unwrap();
        let mut want = Vec::new();
        want.extend_from_slice(&(20u32 + 8 + 8 + 12).to_ne_bytes());
        want.extend_from_slice(&30u16.to_ne_bytes());
        want.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16).to_ne_bytes());
        want.extend_from_slice(&42u32.to_ne_bytes());
        want.extend_from_slice(&0u32.to_ne_bytes());
        want.extend_from_slice(&[1, 1, 0, 0]); // cmd cluster-new, version 1
        want.extend(nla(1, &7u32.to_ne_bytes()));
        want.extend(nla(3, &[192, 168, 0, 1]));
        want.extend(nla(5, &[1, 0, 0x5e, 0x28, 0, 1]));
        assert_eq!(b, want);
    }

    #[test]
    fn dump_flags() {
        let msg = build_request(30, Cmd::BucketGet as u8, 1, NlmF::DUMP, 1, &[]).unwrap();
        let b = to_bytes(&msg).unwrap();
        assert_eq!(b.len(), 20);
        assert_eq!(
            u16::from_ne_bytes([b[6], b[7]]),
            (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16
        );
        assert_eq!(b[16], Cmd::BucketGet as u8);
    }

    #[test]
    fn do_reply_then_ack() {
        let mut r = Replies::new(30, 9);
        let mut dgram = genl_reply(30, 1, 0, 9, &nla(cluster::ID, &5u32.to_ne_bytes()));
        dgram.extend(ack(9, 0, 28, &[]));
        assert_eq!(feed_all(&mut r, &dgram), Ok(Step::Done));
        assert_eq!(r.msgs.len(), 1);
        assert_eq!(r.msgs[0].u32(cluster::ID), Ok(Some(5)));
    }

    #[test]
    fn other_sequence_numbers_are_ignored() {
        let mut r = Replies::new(30, 9);
        let dgram = genl_reply(30, 1, 0, 8, &nla(cluster::ID, &5u32.to_ne_bytes()));
        assert_eq!(feed_all(&mut r, &dgram), Ok(Step::More));
        assert!(r.msgs.is_empty());
    }

    #[test]
    fn dump_ends_with_done() {
        let mut r = Replies::new(30, 3);
        let mut dgram = Vec::new();
        for id in [1u32, 2] {
            dgram.extend(genl_reply(
                30,
                3,
                2,
                3,
                &nla(cluster::ID, &id.to_ne_bytes()),
            ));
        }
        dgram.extend(nlmsg(libc::NLMSG_DONE as u16, 2, 3, &0i32.to_ne_bytes()));
        assert_eq!(feed_all(&mut r, &dgram), Ok(Step::Done));
        let ids: Vec<_> = r.msgs.iter().map(|a| a.u32(cluster::ID).unwrap()).collect();
        assert_eq!(ids, [Some(1), Some(2)]);
    }

    #[test]
    fn error_with_extack_message_and_offset() {
        let sent = [
            Attr::u32(cluster::ID, 1),
            Attr::u32(cluster::BUCKET_BITS, 13),
        ];
        let mut tlvs = nla(extack::MSG, b"integer out of range\0");
        tlvs.extend(nla(extack::OFFS, &28u32.to_ne_bytes()));
        let mut r = Replies::new(30, 4);
        let err = feed_all(&mut r, &ack(4, -libc::EINVAL, 36, &tlvs)).unwrap_err();
        let NlError::Kernel(k) = err else {
            panic!("{err:?}")
        };
        assert_eq!(k.errno, libc::EINVAL);
        assert_eq!(k.msg.as_deref(), Some("integer out of range"));
        assert_eq!(
            k.describe(Some(Cmd::ClusterNew), &sent),
            "Invalid argument: integer out of range (attribute bucket-bits)"
        );
    }

    #[test]
    fn error_with_missing_attribute() {
        let tlvs = nla(extack::MISS_TYPE, &(cluster::IFINDEX as u32).to_ne_bytes());
        let mut r = Replies::new(30, 4);
        let NlError::Kernel(k) = feed_all(&mut r, &ack(4, -libc::EINVAL, 20, &tlvs)).unwrap_err()
        else {
            panic!()
        };
        assert_eq!(
            k.describe(Some(Cmd::ClusterNew), &[]),
            "Invalid argument: missing attribute ifindex"
        );
    }

    #[test]
    fn plain_error_without_extack() {
        let mut r = Replies::new(30, 4);
        let NlError::Kernel(k) = feed_all(&mut r, &ack(4, -libc::EPERM, 20, &[])).unwrap_err()
        else {
            panic!()
        };
        assert_eq!(
            k.describe(Some(Cmd::ClusterNew), &[]),
            "Operation not permitted"
        );
    }

    #[test]
    fn dump_error_in_done() {
        let mut body = (-libc::ENOENT).to_ne_bytes().to_vec();
        body.extend(nla(extack::MSG, b"no such cluster\0"));
        let dgram = nlmsg(libc::NLMSG_DONE as u16, 0x202, 6, &body);
        let mut r = Replies::new(30, 6);
        let NlError::Kernel(k) = feed_all(&mut r, &dgram).unwrap_err() else {
            panic!()
        };
        assert_eq!(
            k.describe(Some(Cmd::BucketGet), &[]),
            "No such file or directory: no such cluster"
        );
    }

    #[test]
    fn resolves_a_real_family_and_reports_a_missing_one() {
        // nlctrl is always registered; this talks to the running kernel.
        let c = Client::connect_to("nlctrl").expect("nlctrl resolves");
        assert_eq!(c.family, libc::GENL_ID_CTRL as u16);
        let err = Client::connect_to("ipclust-nosuch").err().unwrap();
        assert_eq!(
            err,
            Error::failed(
                "ipclust-nosuch module not loaded \
                 (no generic netlink family \"ipclust-nosuch\")"
            )
        );
    }

    #[test]
    fn real_dump_and_real_extack() {
        // The controller's family dump: many messages, then NLMSG_DONE.
        let mut c = Client::connect_to("nlctrl").unwrap();
        let ctrl = libc::GENL_ID_CTRL as u16;
        let getfamily = libc::CTRL_CMD_GETFAMILY as u8;
        let all = c.transact(ctrl, getfamily, 2, NlmF::DUMP, &[]).unwrap();
        assert!(all.len() > 1);
        assert!(all
            .iter()
            .any(|a| a.get(libc::CTRL_ATTR_FAMILY_NAME as u16) == Some(&b"nlctrl\0"[..])));
        // A name longer than the policy allows: EINVAL with extack text
        // pointing at our attribute.
        let long = Attr::string(libc::CTRL_ATTR_FAMILY_NAME as u16, "a-name-far-too-long");
        let err = c
            .transact(ctrl, getfamily, 2, NlmF::ACK, std::slice::from_ref(&long))
            .unwrap_err();
        let NlError::Kernel(k) = err else {
            panic!("{err:?}")
        };
        assert_eq!(k.errno, libc::EINVAL);
        assert!(k.msg.is_some(), "{k:?}");
        assert_eq!(k.offset, Some(HEADERS as u32));
        assert!(k.describe(None, &[long]).ends_with("(attribute #2)"));
    }

    #[test]
    fn offsets_name_attributes() {
        let sent = [Attr::u32(1, 0), Attr::bytes(5, &[0; 6]), Attr::u32(9, 0)];
        assert_eq!(attr_at(&sent, 20), Some(1));
        assert_eq!(attr_at(&sent, 28), Some(5));
        assert_eq!(attr_at(&sent, 32), Some(5)); // its payload
        assert_eq!(attr_at(&sent, 40), Some(9));
        assert_eq!(attr_at(&sent, 48), None);
    }
}
