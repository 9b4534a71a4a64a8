//! The applications' hooks: the configured program runs with each
//! membership event, and, when joins need approval, is asked about each
//! joining host.

use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::Daemon;
use crate::addr::{ip_of, Addr};
use crate::membership::node::Event;

impl Daemon {
    /// Runs `HOOK approve ADDRESS` on a thread of its own; the answer comes
    /// back through `decisions`. A hook that takes over ten seconds is
    /// killed, and that is a veto.
    pub(super) fn ask_approval(&self, a: Addr) {
        let (Some(hook), tx) = (self.hook.clone(), self.decisions.0.clone()) else {
            return;
        };
        let ip = ip_of(&a).to_string();
        std::thread::spawn(move || {
            let ok = match std::process::Command::new(&hook)
                .args(["approve", &ip])
                .spawn()
            {
                Ok(mut child) => {
                    let deadline = Instant::now() + Duration::from_secs(10);
                    loop {
                        match child.try_wait() {
                            Ok(Some(status)) => break status.success(),
                            Ok(None) if Instant::now() < deadline => {
                                std::thread::sleep(Duration::from_millis(20));
                            }
                            _ => {
                                let _ = child.kill();
                                let _ = child.wait();
                                break false;
                            }
                        }
                    }
                }
                Err(err) => {
                    warn!(hook = %hook.display(), %err, "hook");
                    false
                }
            };
            let _ = tx.send((a, ok));
        });
    }

    pub(super) fn event(&self, e: &Event) {
        let (name, args): (&str, Vec<String>) = match e {
            Event::BecameMaster => ("master", vec![]),
            Event::SteppedDown => ("stepped-down", vec![]),
            Event::Joined { member, master } => (
                "joined",
                vec![member.to_string(), ip_of(master).to_string()],
            ),
            Event::MemberUp(id, a) => ("member-up", vec![id.to_string(), ip_of(a).to_string()]),
            Event::MemberDown(id) => ("member-down", vec![id.to_string()]),
            Event::LostMaster => ("lost-master", vec![]),
            Event::Refused(why) => ("refused", vec![format!("{why:?}")]),
            Event::Told(why) => ("told-to-leave", vec![format!("{why:?}")]),
            Event::Stopped => ("stopped", vec![]),
        };
        info!(event = name, args = ?args, "membership");
        if let Some(h) = &self.hook {
            if let Err(err) = std::process::Command::new(h).arg(name).args(&args).spawn() {
                warn!(hook = %h.display(), %err, "hook");
            }
        }
    }
}
