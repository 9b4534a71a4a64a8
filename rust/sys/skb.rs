// SPDX-License-Identifier: GPL-2.0
//! A packet as the parser sees it: bounded reads of an skb, from its
//! network header on (where `skb->data` points on input; past the
//! link-layer header ARP has already pushed on output).

use super::bindings;
use crate::shared::packet::Bytes;
use core::ptr::NonNull;

/// `len` bytes of a packet from `off` (counted, as [`Skb`]'s reads are,
/// from the network header), to be copied into a message.
pub(crate) struct SkbBytes<'s, 'a> {
    /// The packet.
    pub(crate) skb: &'s Skb<'a>,
    /// Where the bytes start.
    pub(crate) off: u32,
    /// How many there are.
    pub(crate) len: u32,
}

/// A borrowed socket buffer, valid for the hook call that lent it.
///
/// # Invariants
///
/// `skb` is a valid socket buffer that the hook call which made this view
/// owns for `'a`; its network header is set, `base` bytes after
/// `skb->data`. Nothing else touches the skb while the view lives.
pub(crate) struct Skb<'a> {
    skb: NonNull<bindings::sk_buff>,
    /// Offset of the network header from `skb->data`.
    base: usize,
    _life: core::marker::PhantomData<&'a mut bindings::sk_buff>,
}

impl<'a> Skb<'a> {
    /// A view of `skb`; `None` if it is null.
    ///
    /// # Safety
    ///
    /// `skb` is null or a valid socket buffer, owned by the caller for
    /// `'a`, with its network header set.
    pub(super) unsafe fn from_raw(skb: *mut bindings::sk_buff) -> Option<Self> {
        let skb = NonNull::new(skb)?;
        // SAFETY: valid skb, per the contract.
        let base = unsafe { bindings::ipcluster_skb_network_offset(skb.as_ptr()) };
        Some(Skb {
            skb,
            base: usize::try_from(base).ok()?,
            _life: core::marker::PhantomData,
        })
    }

    /// The socket buffer, for a C helper; valid while `self` is.
    pub(super) fn as_raw(&self) -> *mut bindings::sk_buff {
        self.skb.as_ptr()
    }

    /// Converts an offset from the network header into one from
    /// `skb->data`, as C wants it.
    pub(super) fn data_offset(&self, off: usize) -> Option<i32> {
        i32::try_from(self.base.checked_add(off)?).ok()
    }

    /// Converts an offset from `skb->data` into one from the network
    /// header.
    pub(super) fn net_offset(&self, off: u32) -> u32 {
        off.saturating_sub(self.base as u32)
    }

    /// Bytes from the network header on.
    pub(crate) fn len(&self) -> u32 {
        // SAFETY: a valid skb (the type's invariant).
        let len = unsafe { bindings::ipcluster_skb_len(self.skb.as_ptr()) };
        len.saturating_sub(self.base as u32)
    }

    /// The frame's protocol (`skb->protocol`, host order): ETH_P_IP, ...
    pub(crate) fn protocol(&self) -> u16 {
        // SAFETY: a valid skb (the type's invariant).
        unsafe { bindings::ipcluster_skb_protocol(self.skb.as_ptr()) }
    }

    /// Marks the packet as addressed to this host.
    pub(crate) fn set_host(&mut self) {
        // SAFETY: a valid skb, owned by the hook for this call (the type's
        // invariant), and `&mut self` excludes any other use of it.
        unsafe { bindings::ipcluster_skb_set_host(self.skb.as_ptr()) }
    }

    /// Frees a locally sent segment's charge to its full socket, which it
    /// stays with (TCP Small Queues stop counting it as in flight); see
    /// `rust/c/skb.c`. Whether it did: not for another kind of socket,
    /// nor one already being freed, which keep the charge.
    pub(crate) fn uncharge(&mut self) -> bool {
        // SAFETY: a valid skb, owned by the hook for this call (the type's
        // invariant), and `&mut self` excludes any other use of it.
        unsafe { bindings::ipcluster_skb_uncharge(self.skb.as_ptr()) }
    }

    /// Whether the frame came to a MAC that is not the interface's.
    pub(crate) fn for_other_host(&self) -> bool {
        // SAFETY: a valid skb (the type's invariant).
        unsafe { bindings::ipcluster_skb_other_host(self.skb.as_ptr()) }
    }

    /// The Ethernet destination of a received frame.
    pub(crate) fn eth_dest(&self) -> Option<[u8; 6]> {
        let mut mac = [0u8; 6];
        // SAFETY: a valid skb; `mac` has room for the 6 bytes written.
        unsafe { bindings::ipcluster_skb_eth_dest(self.skb.as_ptr(), mac.as_mut_ptr()) }
            .then_some(mac)
    }

    /// A primary IPv4 address of the packet's interface other than
    /// `except` (host order), for asking from our own address.
    pub(crate) fn dev_addr4(&self, except: u32) -> Option<u32> {
        // SAFETY: a valid skb on an interface (the output path).
        let a = unsafe { bindings::ipcluster_skb_dev_addr4(self.skb.as_ptr(), except.to_be()) };
        (a != 0).then(|| u32::from_be(a))
    }

    /// The link-local IPv6 address of the packet's interface.
    pub(crate) fn dev_lladdr6(&self) -> Option<[u8; 16]> {
        let mut a = bindings::in6_addr::default();
        // SAFETY: a valid skb; `a` is a valid output buffer.
        if !unsafe { bindings::ipcluster_skb_dev_lladdr6(self.skb.as_ptr(), &mut a) } {
            return None;
        }
        // SAFETY: every bit pattern of the union is 16 plain bytes.
        Some(unsafe { a.in6_u.u6_addr8 })
    }

    /// Whether the TCP checksum of this received segment, whose TCP header
    /// is `l4` bytes after the network header, is good: the check
    /// conntrack makes (`nf_checksum`) at PRE_ROUTING.
    pub(crate) fn tcp_checksum_ok(&mut self, l4: usize, v6: bool) -> bool {
        let Some(off) = self.data_offset(l4).and_then(|o| u32::try_from(o).ok()) else {
            return false;
        };
        let family = if v6 {
            bindings::NFPROTO_IPV6
        } else {
            bindings::NFPROTO_IPV4
        };
        // SAFETY: a valid skb owned by the hook for this call, with its
        // network header set (the type's invariant); nf_checksum reads it
        // within its length and may note the result in it, which `&mut
        // self` allows.
        let sum = unsafe {
            bindings::nf_checksum(
                self.skb.as_ptr(),
                bindings::nf_inet_hooks_NF_INET_PRE_ROUTING,
                off,
                bindings::IPPROTO_TCP as u8,
                family as u16,
            )
        };
        sum == 0
    }

    /// Overwrites bytes at `off`, unsharing the data first if needed.
    pub(crate) fn write(&mut self, off: usize, data: &[u8]) -> bool {
        let (Some(off), Ok(len)) = (self.data_offset(off), i32::try_from(data.len())) else {
            return false;
        };
        // SAFETY: a valid skb owned by the hook (the type's invariant); the
        // helper makes `off + len` writable and in bounds (or fails) before
        // copying `len` bytes from `data`.
        unsafe {
            bindings::ipcluster_skb_write(self.skb.as_ptr(), off, data.as_ptr().cast(), len) == 0
        }
    }
}

impl Bytes for Skb<'_> {
    fn read<const N: usize>(&self, off: usize) -> Option<[u8; N]> {
        let mut buf = [0u8; N];
        let off = self.data_offset(off)?;
        // SAFETY: a valid skb (the type's invariant); skb_header_pointer
        // returns null when `off + N` passes the end, else a pointer to N
        // readable bytes (into the linear data or into `buf`).
        let p = unsafe {
            bindings::ipcluster_skb_header(
                self.skb.as_ptr(),
                off,
                N as i32,
                buf.as_mut_ptr().cast(),
            )
        };
        if p.is_null() {
            return None;
        }
        if p != buf.as_ptr().cast() {
            // SAFETY: `p` points at N readable bytes (see above).
            buf.copy_from_slice(unsafe { core::slice::from_raw_parts(p.cast::<u8>(), N) });
        }
        Some(buf)
    }
}
