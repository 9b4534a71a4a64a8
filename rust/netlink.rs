// SPDX-License-Identifier: GPL-2.0
//! Generic netlink glue: the C entry points named by the generated ops
//! table (`netlink-gen.c`), and safe views of requests, replies, dumps and
//! events for [`crate::control`], which holds the logic.

use crate::bindings;
use crate::cluster::NetState;
use crate::control;
use crate::netns::{self, Net};
use core::ptr::NonNull;
use kernel::ffi::{c_int, c_long, c_void};
use kernel::prelude::*;
use kernel::str::CStr;

fn emsgsize() -> Error {
    Error::from_errno(-(bindings::EMSGSIZE as i32))
}

/// Writes netlink attributes.
pub(crate) trait Writer {
    /// Appends attribute `attr` with payload `data`.
    fn put(&mut self, attr: u32, data: &[u8]) -> Result;

    fn u32(&mut self, attr: u32, v: u32) -> Result {
        self.put(attr, &v.to_ne_bytes())
    }

    /// An NLA_UINT: 64 bits, read back at whatever width was sent.
    fn uint(&mut self, attr: u32, v: u64) -> Result {
        self.put(attr, &v.to_ne_bytes())
    }
}

fn nla_put(skb: *mut bindings::sk_buff, attr: u32, data: &[u8]) -> Result {
    let len = i32::try_from(data.len()).map_err(|_| emsgsize())?;
    // SAFETY: `skb` is a live message under construction (callers' types
    // guarantee it); nla_put copies `len` bytes from `data` or fails with
    // -EMSGSIZE when the message is full.
    let err = unsafe { bindings::nla_put(skb, attr as c_int, len, data.as_ptr().cast()) };
    kernel::error::to_result(err)
}

/// A `doit` request.
pub(crate) struct Request {
    skb: NonNull<bindings::sk_buff>,
    info: NonNull<bindings::genl_info>,
}

impl Request {
    /// The namespace's state.
    pub(crate) fn state(&self) -> &NetState {
        // SAFETY: a request holds its socket's namespace alive, and our
        // family is unregistered (draining requests) before any NetState is
        // freed at module unload.
        unsafe { netns::state(bindings::ipcluster_info_net(self.info.as_ptr())) }
    }

    fn attr(&self, attr: u32) -> Option<NonNull<bindings::nlattr>> {
        // SAFETY: attrs[] was parsed against the op's policy and has
        // maxattr + 1 entries; control.rs asks only for attributes its op
        // lists in the spec, all at most maxattr (absent ones are null).
        let a = unsafe { bindings::ipcluster_info_attr(self.info.as_ptr(), attr as c_int) };
        NonNull::new(a.cast_mut())
    }

    /// A u32 attribute (the policy checked its size and range).
    pub(crate) fn u32(&self, attr: u32) -> Option<u32> {
        self.attr(attr).map(|a| {
            // SAFETY: a validated attribute of NLA_U32 type.
            unsafe { bindings::ipcluster_nla_u32(a.as_ptr()) }
        })
    }

    /// A binary attribute's payload.
    pub(crate) fn bytes(&self, attr: u32) -> Option<&[u8]> {
        let a = self.attr(attr)?;
        // SAFETY: the attribute lies within the request, which lives as
        // long as `self`; nla_len is its validated payload length.
        unsafe {
            let len = usize::try_from(bindings::ipcluster_nla_len(a.as_ptr())).ok()?;
            Some(core::slice::from_raw_parts(
                bindings::ipcluster_nla_data(a.as_ptr()).cast(),
                len,
            ))
        }
    }

    /// Every occurrence of a multi-attr u32, into `out`; how many.
    pub(crate) fn u32s(&self, attr: u32, out: &mut [u32]) -> Result<usize> {
        let max = i32::try_from(out.len()).map_err(|_| EINVAL)?;
        // SAFETY: walks the validated request; writes at most `max` to `out`.
        let n = unsafe {
            bindings::ipcluster_info_u32s(self.info.as_ptr(), attr as c_int, out.as_mut_ptr(), max)
        };
        kernel::error::to_result(n)?;
        Ok(n as usize)
    }

    /// Whether the sender has CAP_NET_ADMIN in the namespace.
    pub(crate) fn admin(&self) -> bool {
        // SAFETY: valid request.
        unsafe { bindings::ipcluster_info_admin(self.skb.as_ptr(), self.info.as_ptr()) }
    }

    /// Reports `msg` (about `attr`, if given) in the extended ACK and
    /// returns `err` for the caller to propagate.
    pub(crate) fn fail(&self, attr: Option<u32>, msg: &'static CStr, err: Error) -> Error {
        let a = attr
            .and_then(|a| self.attr(a))
            .map_or(core::ptr::null(), |a| a.as_ptr().cast_const());
        // SAFETY: valid request; `msg` is static, as the extack keeps the
        // pointer; `a` is null or an attribute of this request.
        unsafe { bindings::ipcluster_info_error(self.info.as_ptr(), a, msg.as_char_ptr()) };
        err
    }
}

/// A message being built: a reply or an event.
pub(crate) struct Msg {
    skb: NonNull<bindings::sk_buff>,
    hdr: NonNull<c_void>,
}

impl Msg {
    fn new(payload: usize, put: impl FnOnce(*mut bindings::sk_buff) -> *mut c_void) -> Result<Msg> {
        // SAFETY: plain allocation; null is handled.
        let skb = NonNull::new(unsafe { bindings::ipcluster_msg_new(payload) }).ok_or(ENOMEM)?;
        match NonNull::new(put(skb.as_ptr())) {
            Some(hdr) => Ok(Msg { skb, hdr }),
            None => {
                // SAFETY: ours, never sent.
                unsafe { bindings::ipcluster_msg_free(skb.as_ptr()) };
                Err(emsgsize())
            }
        }
    }

    /// A reply to `req` with command `cmd`, room for `payload` bytes.
    pub(crate) fn reply(req: &Request, cmd: u32, payload: usize) -> Result<Msg> {
        // SAFETY: a fresh message and a valid request.
        Msg::new(payload, |skb| unsafe {
            bindings::ipcluster_msg_reply(skb, req.info.as_ptr(), cmd as u8)
        })
    }

    /// An event for the `events` group.
    pub(crate) fn event(cmd: u32) -> Result<Msg> {
        // SAFETY: a fresh message.
        Msg::new(0, |skb| unsafe {
            bindings::ipcluster_msg_notify(skb, cmd as u8)
        })
    }

    fn finish(self) -> *mut bindings::sk_buff {
        let me = core::mem::ManuallyDrop::new(self);
        // SAFETY: `hdr` was put in `skb` by Msg::new.
        unsafe { bindings::ipcluster_msg_end(me.skb.as_ptr(), me.hdr.as_ptr()) };
        me.skb.as_ptr()
    }

    /// Sends the reply.
    pub(crate) fn send_reply(self, req: &Request) -> Result {
        let skb = self.finish();
        // SAFETY: a finished message; genlmsg_reply consumes it.
        kernel::error::to_result(unsafe {
            bindings::ipcluster_msg_send_reply(skb, req.info.as_ptr())
        })
    }

    /// Multicasts the event in `net` (nobody listening is not an error).
    pub(crate) fn send_event(self, net: &Net) {
        let skb = self.finish();
        // SAFETY: a finished message, consumed; `net` is live.
        unsafe { bindings::ipcluster_msg_send_event(net.as_ptr(), skb) };
    }
}

impl Writer for Msg {
    fn put(&mut self, attr: u32, data: &[u8]) -> Result {
        nla_put(self.skb.as_ptr(), attr, data)
    }
}

impl Drop for Msg {
    fn drop(&mut self) {
        // SAFETY: never sent (sending forgets self), so still ours.
        unsafe { bindings::ipcluster_msg_free(self.skb.as_ptr()) };
    }
}

/// A `dumpit` call: fills one skb with entries, resuming at a cursor.
pub(crate) struct Dump<'d> {
    skb: NonNull<bindings::sk_buff>,
    cb: NonNull<bindings::netlink_callback>,
    _call: core::marker::PhantomData<&'d ()>,
}

/// One entry of a dump; cancelled unless [`DumpEntry::end`] is called.
pub(crate) struct DumpEntry<'a, 'd> {
    dump: &'a mut Dump<'d>,
    hdr: NonNull<c_void>,
}

impl<'d> Dump<'d> {
    /// The namespace's state, for the whole dumpit call.
    pub(crate) fn state(&self) -> &'d NetState {
        // SAFETY: as for Request::state: the dumping socket holds the
        // namespace, and the family is unregistered before states go.
        unsafe { netns::state(bindings::ipcluster_dump_net(self.cb.as_ptr())) }
    }

    /// A u32 attribute of the dump request.
    pub(crate) fn u32(&self, attr: u32) -> Option<u32> {
        // SAFETY: the dump request was validated against the op's policy.
        let a = unsafe { bindings::ipcluster_dump_attr(self.cb.as_ptr(), attr as c_int) };
        // SAFETY: a validated NLA_U32 attribute, or null.
        (!a.is_null()).then(|| unsafe { bindings::ipcluster_nla_u32(a) })
    }

    /// Where the previous call stopped (0 at first).
    pub(crate) fn cursor(&mut self) -> &mut c_long {
        // SAFETY: cb->args[0] is ours for the life of the dump.
        unsafe { &mut *bindings::ipcluster_dump_cursor(self.cb.as_ptr()) }
    }

    /// Starts an entry with command `cmd`; `None` when the skb is full.
    pub(crate) fn entry(&mut self, cmd: u32) -> Option<DumpEntry<'_, 'd>> {
        // SAFETY: valid skb and callback of this dumpit call.
        let hdr =
            unsafe { bindings::ipcluster_msg_dump(self.skb.as_ptr(), self.cb.as_ptr(), cmd as u8) };
        Some(DumpEntry {
            hdr: NonNull::new(hdr)?,
            dump: self,
        })
    }
}

impl DumpEntry<'_, '_> {
    pub(crate) fn end(self) {
        let me = core::mem::ManuallyDrop::new(self);
        // SAFETY: `hdr` was put in the dump's skb by Dump::entry.
        unsafe { bindings::ipcluster_msg_end(me.dump.skb.as_ptr(), me.hdr.as_ptr()) };
    }
}

impl Writer for DumpEntry<'_, '_> {
    fn put(&mut self, attr: u32, data: &[u8]) -> Result {
        nla_put(self.dump.skb.as_ptr(), attr, data)
    }
}

impl Drop for DumpEntry<'_, '_> {
    fn drop(&mut self) {
        // SAFETY: an entry not ended: take it back out of the skb.
        unsafe { bindings::ipcluster_msg_cancel(self.dump.skb.as_ptr(), self.hdr.as_ptr()) };
    }
}

/// # Safety
///
/// `skb` and `info` are those of a request being handled.
unsafe fn doit(
    skb: *mut bindings::sk_buff,
    info: *mut bindings::genl_info,
    f: fn(&Request) -> Result,
) -> c_int {
    let (Some(skb), Some(info)) = (NonNull::new(skb), NonNull::new(info)) else {
        return EINVAL.to_errno();
    };
    match f(&Request { skb, info }) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// `skb` and `cb` are those of a dumpit call in progress.
unsafe fn dumpit(
    skb: *mut bindings::sk_buff,
    cb: *mut bindings::netlink_callback,
    f: fn(&mut Dump<'_>) -> Result,
) -> c_int {
    let (Some(skb), Some(cb)) = (NonNull::new(skb), NonNull::new(cb)) else {
        return EINVAL.to_errno();
    };
    let mut d = Dump {
        skb,
        cb,
        _call: core::marker::PhantomData,
    };
    match f(&mut d) {
        // SAFETY: valid skb: its length tells netlink whether to call again.
        Ok(()) => unsafe { bindings::ipcluster_skb_len(skb.as_ptr()) as c_int },
        Err(e) => e.to_errno(),
    }
}

macro_rules! doit {
    ($name:ident, $f:path) => {
        /// # Safety
        ///
        /// Called by generic netlink only, per the generated ops table.
        #[no_mangle]
        unsafe extern "C" fn $name(
            skb: *mut bindings::sk_buff,
            info: *mut bindings::genl_info,
        ) -> c_int {
            // SAFETY: see above.
            unsafe { doit(skb, info, $f) }
        }
    };
}

macro_rules! dumpit {
    ($name:ident, $f:path) => {
        /// # Safety
        ///
        /// Called by generic netlink only, per the generated ops table.
        #[no_mangle]
        unsafe extern "C" fn $name(
            skb: *mut bindings::sk_buff,
            cb: *mut bindings::netlink_callback,
        ) -> c_int {
            // SAFETY: see above.
            unsafe { dumpit(skb, cb, $f) }
        }
    };
}

doit!(ipcluster_nl_cluster_new_doit, control::cluster_new);
doit!(ipcluster_nl_cluster_del_doit, control::cluster_del);
doit!(ipcluster_nl_cluster_get_doit, control::cluster_get);
dumpit!(ipcluster_nl_cluster_get_dumpit, control::cluster_dump);
doit!(ipcluster_nl_table_set_doit, control::table_set);
doit!(ipcluster_nl_table_get_doit, control::table_get);
dumpit!(ipcluster_nl_bucket_get_dumpit, control::bucket_dump);
doit!(ipcluster_nl_tcp_unsent_doit, crate::unsent::tcp_unsent);

/// The ABI's numbers, from the generated uapi header.
pub(crate) mod abi {
    use crate::bindings as b;

    pub(crate) const A_ID: u32 = b::IPCLUSTER_A_CLUSTER_ID;
    pub(crate) const A_IFINDEX: u32 = b::IPCLUSTER_A_CLUSTER_IFINDEX;
    pub(crate) const A_ADDR4: u32 = b::IPCLUSTER_A_CLUSTER_ADDR4;
    pub(crate) const A_ADDR6: u32 = b::IPCLUSTER_A_CLUSTER_ADDR6;
    pub(crate) const A_MAC: u32 = b::IPCLUSTER_A_CLUSTER_MAC;
    pub(crate) const A_MODE: u32 = b::IPCLUSTER_A_CLUSTER_MODE;
    pub(crate) const A_HASH: u32 = b::IPCLUSTER_A_CLUSTER_HASH;
    pub(crate) const A_SEED: u32 = b::IPCLUSTER_A_CLUSTER_SEED;
    pub(crate) const A_BUCKET_BITS: u32 = b::IPCLUSTER_A_CLUSTER_BUCKET_BITS;
    pub(crate) const A_MEMBER_ID: u32 = b::IPCLUSTER_A_CLUSTER_MEMBER_ID;
    pub(crate) const A_TABLE: u32 = b::IPCLUSTER_A_CLUSTER_TABLE;
    pub(crate) const A_MALFORMED: u32 = b::IPCLUSTER_A_CLUSTER_MALFORMED;
    pub(crate) const A_FWD_IFINDEX: u32 = b::IPCLUSTER_A_CLUSTER_FWD_IFINDEX;
    pub(crate) const A_FORWARDER: u32 = b::IPCLUSTER_A_CLUSTER_FORWARDER;
    pub(crate) const A_MEMBERS: u32 = b::IPCLUSTER_A_CLUSTER_MEMBERS;
    pub(crate) const A_DRAIN_MS: u32 = b::IPCLUSTER_A_CLUSTER_DRAIN_MS;
    pub(crate) const A_TCP_EXPORT: u32 = b::IPCLUSTER_A_CLUSTER_TCP_EXPORT;
    pub(crate) const A_COMMIT_QUEUE: u32 = b::IPCLUSTER_A_CLUSTER_COMMIT_QUEUE;
    pub(crate) const IPCLUSTER_MAX_MEMBERS: u32 = b::IPCLUSTER_MAX_MEMBERS;
    pub(crate) const IPCLUSTER_MAX_MEMBER_ID: u32 = b::IPCLUSTER_MAX_MEMBER_ID;
    pub(crate) const B_CLUSTER_ID: u32 = b::IPCLUSTER_A_BUCKET_CLUSTER_ID;
    pub(crate) const B_INDEX: u32 = b::IPCLUSTER_A_BUCKET_INDEX;
    pub(crate) const B_OWNER: u32 = b::IPCLUSTER_A_BUCKET_OWNER;
    pub(crate) const B_PACKETS: u32 = b::IPCLUSTER_A_BUCKET_PACKETS;
    pub(crate) const B_BYTES: u32 = b::IPCLUSTER_A_BUCKET_BYTES;
    pub(crate) const B_FLOWS: u32 = b::IPCLUSTER_A_BUCKET_FLOWS;
    pub(crate) const B_DROPS: u32 = b::IPCLUSTER_A_BUCKET_DROPS;
    pub(crate) const B_FORWARDED: u32 = b::IPCLUSTER_A_BUCKET_FORWARDED;
    pub(crate) const B_DRAIN_MS: u32 = b::IPCLUSTER_A_BUCKET_DRAIN_MS;
    pub(crate) const CMD_CLUSTER_NEW: u32 = b::IPCLUSTER_CMD_CLUSTER_NEW;
    pub(crate) const CMD_CLUSTER_GET: u32 = b::IPCLUSTER_CMD_CLUSTER_GET;
    pub(crate) const CMD_TABLE_GET: u32 = b::IPCLUSTER_CMD_TABLE_GET;
    pub(crate) const CMD_BUCKET_GET: u32 = b::IPCLUSTER_CMD_BUCKET_GET;
    pub(crate) const CMD_CHANGE_NTF: u32 = b::IPCLUSTER_CMD_CLUSTER_CHANGE_NTF;
    pub(crate) const CMD_TCP_UNSENT: u32 = b::IPCLUSTER_CMD_TCP_UNSENT;
    pub(crate) const T_CLUSTER_ID: u32 = b::IPCLUSTER_A_TCP_STATE_CLUSTER_ID;
    pub(crate) const T_RECORDS: u32 = b::IPCLUSTER_A_TCP_STATE_RECORDS;
    pub(crate) const MODE_MULTICAST: u32 = b::ipcluster_mode_IPCLUSTER_MODE_MULTICAST;
    pub(crate) const MODE_UNICAST: u32 = b::ipcluster_mode_IPCLUSTER_MODE_UNICAST;
    pub(crate) const MODE_FORWARD: u32 = b::ipcluster_mode_IPCLUSTER_MODE_FORWARD;
    pub(crate) const HASH_KEYED: u32 = b::ipcluster_hash_IPCLUSTER_HASH_KEYED;
    pub(crate) const HASH_SEED: u32 = b::ipcluster_hash_IPCLUSTER_HASH_SEED;
}
