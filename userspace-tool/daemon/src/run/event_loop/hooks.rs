//! The applications' hook: the configured program runs with each
//! membership event, and, when joins need approval, is asked about each
//! joining host.
//!
//! One thread runs the hook, one call at a time, in the order the calls
//! came: the program sees events in the order they happened, every
//! process is waited for (no zombies), and a flood of events or joins
//! starts no more than one process at a time. Calls that find the queue
//! full are dropped with a warning; a dropped approval is a veto, which
//! the joiner meets by asking again later.

use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;
use tracing::{info, warn};

use super::Decided;
use crate::addr::{ip_of, Addr};
use crate::membership::node::Event;

/// Calls waiting for the hook.
const QUEUE: usize = 64;

/// The longest a call may take; then the process is killed, and an
/// approval it was asked for is a veto.
const LIMIT: Duration = Duration::from_secs(10);

/// One call of the hook.
enum Call {
    Event(&'static str, Vec<String>),
    Approve(Addr),
}

/// The hook's thread, fed through a bounded queue.
pub(super) struct Hooks {
    tx: SyncSender<Call>,
    decided: UnboundedSender<Decided>,
}

impl Hooks {
    /// Runs `hook`, sending its answers on joins to `decided`.
    pub(super) fn new(hook: PathBuf, decided: UnboundedSender<Decided>) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel(QUEUE);
        let answers = decided.clone();
        std::thread::Builder::new()
            .name("hook".into())
            .spawn(move || {
                for call in rx {
                    match call {
                        Call::Event(name, args) => {
                            run(&hook, name, &args);
                        }
                        Call::Approve(a) => {
                            let ok = run(&hook, "approve", &[ip_of(&a).to_string()]);
                            let _ = answers.send((a, ok));
                        }
                    }
                }
            })?;
        Ok(Hooks { tx, decided })
    }

    /// Asks whether the host at `a` may join; the answer comes back
    /// through the `decided` channel.
    pub(super) fn approve(&self, a: Addr) {
        if self.queue(Call::Approve(a)) {
            let _ = self.decided.send((a, false));
        }
    }

    /// Tells the hook of membership event `e`.
    pub(super) fn event(&self, e: &Event) {
        let (name, args) = describe(e);
        self.queue(Call::Event(name, args));
    }

    /// Queues `call`; whether it was dropped.
    fn queue(&self, call: Call) -> bool {
        match self.tx.try_send(call) {
            Ok(()) => false,
            Err(TrySendError::Full(_)) => {
                warn!("hook: {QUEUE} calls waiting already, call dropped");
                true
            }
            Err(TrySendError::Disconnected(_)) => true,
        }
    }
}

/// The hook's arguments for event `e`.
pub(super) fn describe(e: &Event) -> (&'static str, Vec<String>) {
    match e {
        Event::BecameMaster => ("master", vec![]),
        Event::SteppedDown => ("stepped-down", vec![]),
        Event::Joined { member, master } => (
            "joined",
            vec![member.to_string(), ip_of(master).to_string()],
        ),
        Event::MemberUp(id, a) => ("member-up", vec![id.to_string(), ip_of(a).to_string()]),
        Event::MemberDown(id) => ("member-down", vec![id.to_string()]),
        Event::LostMaster => ("lost-master", vec![]),
        Event::Quorum(true) => ("quorum-gained", vec![]),
        Event::Quorum(false) => ("quorum-lost", vec![]),
        Event::Refused(why) => ("refused", vec![format!("{why:?}")]),
        Event::Told(why) => ("told-to-leave", vec![format!("{why:?}")]),
        Event::Stopped => ("stopped", vec![]),
    }
}

/// Runs `hook NAME ARGS...` to its end or for [`LIMIT`]; whether it
/// succeeded.
fn run(hook: &PathBuf, name: &str, args: &[String]) -> bool {
    let mut child = match Command::new(hook).arg(name).args(args).spawn() {
        Ok(c) => c,
        Err(err) => {
            warn!(hook = %hook.display(), %err, "hook");
            return false;
        }
    };
    let deadline = Instant::now() + LIMIT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                info!(hook = %hook.display(), name, "hook took too long: killed");
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}
