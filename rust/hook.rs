// SPDX-License-Identifier: GPL-2.0
//! The netfilter hook: IPv4 and IPv6 PRE_ROUTING, after defragmentation and
//! before conntrack.

use crate::bindings;
use kernel::ffi::{c_uint, c_void};

/// Sees every packet entering the namespace.
///
/// # Safety
///
/// Called by netfilter only, under `rcu_read_lock`, with a valid `skb`
/// and `state`.
pub(crate) unsafe extern "C" fn ipcluster_hook(
    _priv: *mut c_void,
    _skb: *mut bindings::sk_buff,
    _state: *const bindings::nf_hook_state,
) -> c_uint {
    bindings::NF_ACCEPT
}
