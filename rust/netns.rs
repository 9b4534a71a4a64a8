// SPDX-License-Identifier: GPL-2.0
//! Per network namespace set-up: every namespace gets ipcluster's hooks,
//! and loses them before it goes away.

use crate::bindings;
use crate::hook::ipcluster_hook;
use kernel::error::to_result;
use kernel::ffi::c_int;
use kernel::prelude::*;

fn hook_ops(pf: u32, priority: c_int) -> bindings::nf_hook_ops {
    bindings::nf_hook_ops {
        hook: Some(ipcluster_hook),
        pf: pf as u8,
        hooknum: bindings::nf_inet_hooks_NF_INET_PRE_ROUTING,
        // Right after defragmentation: a dropped packet never costs a
        // conntrack entry, and every packet we hash is whole.
        priority: priority + 1,
        ..Default::default()
    }
}

/// Registers the pernet operations; the core then calls
/// [`ipcluster_net_init`] for every namespace, existing and future.
pub(crate) fn register() -> Result {
    // SAFETY: called once from module init; the ops are a C static.
    to_result(unsafe { bindings::ipcluster_glue_register() })
}

/// Unregisters them; the core calls [`ipcluster_net_exit`] for each
/// namespace first.
pub(crate) fn unregister() {
    // SAFETY: called once from module exit, after a successful register().
    unsafe { bindings::ipcluster_glue_unregister() }
}

/// # Safety
///
/// Called by the pernet core only, with a live `net` whose zeroed
/// `ipcluster_net` area it has just allocated.
#[no_mangle]
unsafe extern "C" fn ipcluster_net_init(net: *mut bindings::net) -> c_int {
    // SAFETY: per the contract above the area exists and nothing else
    // touches it yet.
    let pn = unsafe { &mut *bindings::ipcluster_pernet(net) };
    pn.hooks = [
        hook_ops(
            bindings::NFPROTO_IPV4,
            bindings::nf_ip_hook_priorities_NF_IP_PRI_CONNTRACK_DEFRAG,
        ),
        hook_ops(
            bindings::NFPROTO_IPV6,
            bindings::nf_ip6_hook_priorities_NF_IP6_PRI_CONNTRACK_DEFRAG,
        ),
    ];
    // SAFETY: the ops live in the per-netns area, which outlives them:
    // ipcluster_net_exit unregisters them before the core frees it.
    unsafe { bindings::nf_register_net_hooks(net, pn.hooks.as_ptr(), pn.hooks.len() as u32) }
}

/// # Safety
///
/// Called by the pernet core only, once per successful
/// [`ipcluster_net_init`], before it frees the area.
#[no_mangle]
unsafe extern "C" fn ipcluster_net_exit(net: *mut bindings::net) {
    // SAFETY: the area is still allocated (see above).
    let pn = unsafe { &mut *bindings::ipcluster_pernet(net) };
    // SAFETY: these are the ops registered by ipcluster_net_init; netfilter
    // waits for readers (synchronize_net) before returning.
    unsafe { bindings::nf_unregister_net_hooks(net, pn.hooks.as_ptr(), pn.hooks.len() as u32) };
}
