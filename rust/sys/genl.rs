// SPDX-License-Identifier: GPL-2.0
//! Generic netlink: safe views of requests, replies, dumps and events,
//! and the macros that define the C entry points the generated ops table
//! (`netlink-gen.c`) names. The table itself is `crate::ops`.

use super::bindings;
use super::net::Net;
use super::pernet::{self, Pernet};
use core::ptr::NonNull;
use kernel::ffi::{c_int, c_long, c_void};
use kernel::prelude::*;
use kernel::str::CStr;

/// A socket buffer, as the ops' entry points receive it.
pub(crate) type RawSkb = bindings::sk_buff;
/// A request's `genl_info`, as a `doit` entry point receives it.
pub(crate) type RawInfo = bindings::genl_info;
/// A dump's `netlink_callback`, as a `dumpit` entry point receives it.
pub(crate) type RawCallback = bindings::netlink_callback;

fn emsgsize() -> Error {
    Error::from_errno(-(bindings::EMSGSIZE as i32))
}

/// Writes netlink attributes.
pub(crate) trait Writer {
    /// Appends attribute `attr` with payload `data`.
    fn put(&mut self, attr: u32, data: &[u8]) -> Result;

    /// Appends a u32 attribute.
    fn u32(&mut self, attr: u32, v: u32) -> Result {
        self.put(attr, &v.to_ne_bytes())
    }

    /// Appends an NLA_UINT: 64 bits, read back at whatever width was sent.
    fn uint(&mut self, attr: u32, v: u64) -> Result {
        self.put(attr, &v.to_ne_bytes())
    }
}

/// Appends an attribute to `skb`, a message under construction.
fn nla_put(skb: NonNull<bindings::sk_buff>, attr: u32, data: &[u8]) -> Result {
    let len = i32::try_from(data.len()).map_err(|_| emsgsize())?;
    // SAFETY: `skb` is a live message under construction (the callers'
    // invariants); nla_put copies `len` bytes from `data` or fails with
    // -EMSGSIZE when the message is full.
    let err = unsafe { bindings::nla_put(skb.as_ptr(), attr as c_int, len, data.as_ptr().cast()) };
    kernel::error::to_result(err)
}

/// A `doit` request.
///
/// # Invariants
///
/// `skb` and `info` are those of a request that generic netlink is
/// handling for as long as this lives: its attributes were validated
/// against the op's policy, and its socket holds its namespace.
pub(crate) struct Request {
    skb: NonNull<bindings::sk_buff>,
    info: NonNull<bindings::genl_info>,
}

impl Request {
    /// The namespace's state.
    pub(crate) fn state<T: Pernet>(&self) -> Result<&T> {
        // SAFETY: a request holds its socket's namespace alive, and our
        // family is unregistered (draining requests) before any state is
        // freed at module unload.
        unsafe { pernet::state(bindings::ipcluster_info_net(self.info.as_ptr())) }.ok_or(EINVAL)
    }

    /// The request's namespace, for a C helper; live while `self` is.
    pub(super) fn net_ptr(&self) -> *mut bindings::net {
        // SAFETY: a valid request (the type's invariant).
        unsafe { bindings::ipcluster_info_net(self.info.as_ptr()) }
    }

    fn attr(&self, attr: u32) -> Option<NonNull<bindings::nlattr>> {
        // SAFETY: attrs[] was parsed against the op's policy and has
        // maxattr + 1 entries; the handlers ask only for attributes their
        // op lists in the spec, all at most maxattr (absent ones are null).
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
        // SAFETY: a valid request (the type's invariant).
        unsafe { bindings::ipcluster_info_admin(self.skb.as_ptr(), self.info.as_ptr()) }
    }

    /// Reports `msg` (about `attr`, if given) in the extended ACK and
    /// returns `err` for the caller to propagate.
    pub(crate) fn fail(&self, attr: Option<u32>, msg: &'static CStr, err: Error) -> Error {
        let a = attr
            .and_then(|a| self.attr(a))
            .map_or(core::ptr::null(), |a| a.as_ptr().cast_const());
        // SAFETY: a valid request; `msg` is static, as the extack keeps the
        // pointer; `a` is null or an attribute of this request.
        unsafe { bindings::ipcluster_info_error(self.info.as_ptr(), a, msg.as_char_ptr()) };
        err
    }
}

impl Request {
    /// Reports `msg`, made for this failure, in the extended ACK (copied,
    /// truncated to what the ACK holds) and returns `err`.
    pub(crate) fn fail_with(&self, msg: &CStr, err: Error) -> Error {
        // SAFETY: a valid request; the helper copies `msg`, a C string
        // that outlives the call.
        unsafe { bindings::ipcluster_info_error_copy(self.info.as_ptr(), msg.as_char_ptr()) };
        err
    }
}

/// A message being built: a reply or an event.
///
/// # Invariants
///
/// `skb` is a message this value owns (freed by `drop` unless sent), and
/// `hdr` the generic netlink header put in it by [`Msg::new`].
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
        // SAFETY: `hdr` was put in `skb` by Msg::new (the type's invariant).
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
        // SAFETY: a finished message, consumed; `net` is live (Net's
        // invariant).
        unsafe { bindings::ipcluster_msg_send_event(net.as_ptr(), skb) };
    }
}

impl Writer for Msg {
    fn put(&mut self, attr: u32, data: &[u8]) -> Result {
        nla_put(self.skb, attr, data)
    }
}

impl Drop for Msg {
    fn drop(&mut self) {
        // SAFETY: never sent (sending forgets self), so still ours.
        unsafe { bindings::ipcluster_msg_free(self.skb.as_ptr()) };
    }
}

/// A `dumpit` call: fills one skb with entries, resuming at a cursor.
///
/// # Invariants
///
/// `skb` and `cb` are those of a `dumpit` call in progress for `'d`: the
/// dump request was validated against the op's policy, and the dumping
/// socket holds its namespace.
pub(crate) struct Dump<'d> {
    skb: NonNull<bindings::sk_buff>,
    cb: NonNull<bindings::netlink_callback>,
    _call: core::marker::PhantomData<&'d ()>,
}

/// One entry of a dump; cancelled unless [`DumpEntry::end`] is called.
///
/// # Invariants
///
/// `hdr` is the header [`Dump::entry`] put in the dump's skb.
pub(crate) struct DumpEntry<'a, 'd> {
    dump: &'a mut Dump<'d>,
    hdr: NonNull<c_void>,
}

impl<'d> Dump<'d> {
    /// The namespace's state, for the whole dumpit call.
    pub(crate) fn state<T: Pernet>(&self) -> Result<&'d T> {
        // SAFETY: as for Request::state: the dumping socket holds the
        // namespace, and the family is unregistered before states go.
        unsafe { pernet::state(bindings::ipcluster_dump_net(self.cb.as_ptr())) }.ok_or(EINVAL)
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
        // SAFETY: the valid skb and callback of this dumpit call.
        let hdr =
            unsafe { bindings::ipcluster_msg_dump(self.skb.as_ptr(), self.cb.as_ptr(), cmd as u8) };
        Some(DumpEntry {
            hdr: NonNull::new(hdr)?,
            dump: self,
        })
    }
}

impl DumpEntry<'_, '_> {
    /// Completes the entry: it stays in the dump.
    pub(crate) fn end(self) {
        let me = core::mem::ManuallyDrop::new(self);
        // SAFETY: `hdr` was put in the dump's skb by Dump::entry.
        unsafe { bindings::ipcluster_msg_end(me.dump.skb.as_ptr(), me.hdr.as_ptr()) };
    }
}

impl Writer for DumpEntry<'_, '_> {
    fn put(&mut self, attr: u32, data: &[u8]) -> Result {
        nla_put(self.dump.skb, attr, data)
    }
}

impl Drop for DumpEntry<'_, '_> {
    fn drop(&mut self) {
        // SAFETY: an entry not ended: take it back out of the skb.
        unsafe { bindings::ipcluster_msg_cancel(self.dump.skb.as_ptr(), self.hdr.as_ptr()) };
    }
}

/// Runs handler `f` on a `doit` request.
///
/// # Safety
///
/// `skb` and `info` are those of a request being handled, for the call.
pub(crate) unsafe fn run_doit(
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

/// Runs handler `f` on a `dumpit` call.
///
/// # Safety
///
/// `skb` and `cb` are those of a dumpit call in progress, for the call.
pub(crate) unsafe fn run_dumpit(
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
        // SAFETY: a valid skb: its length tells netlink whether to call again.
        Ok(()) => unsafe { bindings::ipcluster_skb_len(skb.as_ptr()) as c_int },
        Err(e) => e.to_errno(),
    }
}

/// Defines the `doit` entry point `$name`, which the generated ops table
/// names, running handler `$f`.
macro_rules! doit {
    ($name:ident, $f:path) => {
        /// # Safety
        ///
        /// Called by generic netlink only, per the generated ops table.
        #[no_mangle]
        unsafe extern "C" fn $name(
            skb: *mut $crate::sys::genl::RawSkb,
            info: *mut $crate::sys::genl::RawInfo,
        ) -> kernel::ffi::c_int {
            // SAFETY: generic netlink calls a doit with the skb and info of
            // the request it is handling.
            unsafe { $crate::sys::genl::run_doit(skb, info, $f) }
        }
    };
}
pub(crate) use doit;

/// Defines the `dumpit` entry point `$name`, which the generated ops
/// table names, running handler `$f`.
macro_rules! dumpit {
    ($name:ident, $f:path) => {
        /// # Safety
        ///
        /// Called by generic netlink only, per the generated ops table.
        #[no_mangle]
        unsafe extern "C" fn $name(
            skb: *mut $crate::sys::genl::RawSkb,
            cb: *mut $crate::sys::genl::RawCallback,
        ) -> kernel::ffi::c_int {
            // SAFETY: generic netlink calls a dumpit with the skb and
            // callback of the dump in progress.
            unsafe { $crate::sys::genl::run_dumpit(skb, cb, $f) }
        }
    };
}
pub(crate) use dumpit;
