//! The one call the daemon makes to the scheduler.

use tracing::warn;

/// Puts the calling thread, the membership's, at a realtime priority
/// (SCHED_RR 10, as corosync does for its own): whatever else keeps this
/// host's CPUs busy — its applications, TCP state replication — the
/// thread that sends keepalives and judges silence runs when it wakes, so
/// a busy host is not taken for dead. It does little: a few datagrams
/// per period. The threads and processes it starts later (approval
/// hooks) run at the normal priority (SCHED_RESET_ON_FORK); those started
/// before it (replication, the kernel's exports) do already. Without the
/// privilege, a warning and the normal priority.
pub(crate) fn realtime() {
    let p = libc::sched_param { sched_priority: 10 };
    // SAFETY: sched_setscheduler on the calling thread (pid 0) with a
    // valid sched_param that lives across the call.
    let r = unsafe { libc::sched_setscheduler(0, libc::SCHED_RR | libc::SCHED_RESET_ON_FORK, &p) };
    if r != 0 {
        warn!(err = %std::io::Error::last_os_error(), "no realtime priority for the membership");
    }
}
