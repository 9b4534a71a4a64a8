//! The membership's [`Message`]s in the cluster link's wire format
//! (`crate::shared::proto`); signing and checking are the shared
//! [`crate::wire::Endpoint`]'s.

use std::time::Duration;

use crate::shared::proto::{self, kind, Member, Msg, Nak};

use super::node::{Keepalive, Message};
use crate::wire::Payload;

impl Payload for Message {
    const KINDS: &'static [u8] = &[
        kind::JOIN,
        kind::WELCOME,
        kind::REFUSE,
        kind::OFFER,
        kind::OBJECT,
        kind::MASTER_ALIVE,
        kind::MEMBER_ALIVE,
        kind::LEAVE,
    ];

    fn with_wire<R>(
        &self,
        f: impl FnOnce(&Msg<'_>) -> Result<R, proto::Error>,
    ) -> Result<R, proto::Error> {
        let m = match self {
            Message::Join { config, .. } => Msg::Join { config: *config },
            Message::Welcome { member, config } => Msg::Welcome {
                member: *member,
                config: *config,
            },
            Message::Refuse(why) => Msg::Refuse { why: *why },
            Message::Offer { members } => Msg::Offer { members: *members },
            Message::Object { members } => Msg::Object { members: *members },
            Message::MasterAlive(k) => return master_alive(k, f),
            Message::MemberAlive { seq, table, config } => Msg::MemberAlive {
                seq: *seq,
                table: *table,
                config: *config,
            },
            Message::Leave(why) => Msg::Leave { why: *why },
        };
        f(&m)
    }

    fn from_wire(msg: &Msg<'_>) -> Option<Self> {
        Some(match *msg {
            Msg::Join { config } => Message::Join {
                refused: None,
                config,
            },
            Msg::Welcome { member, config } => Message::Welcome { member, config },
            Msg::Refuse { why } => Message::Refuse(why),
            Msg::Offer { members } => Message::Offer { members },
            Msg::Object { members } => Message::Object { members },
            Msg::MasterAlive(k) => Message::MasterAlive(Keepalive {
                config: k.config,
                period: Duration::from_millis(u64::from(k.period_ms)),
                misses: k.misses,
                version: k.table_version,
                members: k.members.iter().map(|m| (m.id, m.addr)).collect(),
                owners: k.owners.iter().collect(),
            }),
            Msg::MemberAlive { seq, table, config } => Message::MemberAlive { seq, table, config },
            Msg::Leave { why } => Message::Leave(why),
            Msg::TcpState { .. } | Msg::TcpAck { .. } | Msg::Hello(_) => return None,
        })
    }

    /// A join from a host the cluster does not admit is answered with
    /// the reason; anything else from it is ignored.
    fn refused(self, why: Nak) -> Option<Self> {
        match self {
            Message::Join { config, .. } => Some(Message::Join {
                refused: Some(why),
                config,
            }),
            _ => None,
        }
    }
}

/// Calls `f` with master keepalive `k` in the wire format, its member
/// list and table encoded in buffers that live for the call.
fn master_alive<R>(
    k: &Keepalive,
    f: impl FnOnce(&Msg<'_>) -> Result<R, proto::Error>,
) -> Result<R, proto::Error> {
    let members: Vec<Member> = k
        .members
        .iter()
        .map(|&(id, addr)| Member { id, addr })
        .collect();
    let mut mb = vec![0; members.len() * 18];
    proto::encode_members(&members, &mut mb)?;
    let mut ob = vec![0; k.owners.len() * 2];
    proto::encode_owners(&k.owners, &mut ob)?;
    let period = u16::try_from(k.period.as_millis()).unwrap_or(u16::MAX);
    f(&Msg::MasterAlive(proto::MasterAlive::new(
        k.config,
        (period, k.misses),
        k.version,
        &mb,
        &ob,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::proto::{Exit, Header};
    use crate::wire::encode;

    #[test]
    fn messages_survive_the_wire() {
        let h = Header {
            sender: 2,
            cluster: 7,
            counter: 99,
        };
        let cert = b"certificate";
        for m in [
            Message::Join {
                refused: None,
                config: 1,
            },
            Message::Welcome {
                member: 3,
                config: 4,
            },
            Message::Refuse(Nak::NotListed),
            Message::Offer { members: 1 },
            Message::Object { members: 5 },
            Message::MasterAlive(Keepalive {
                config: 1,
                period: Duration::from_millis(50),
                misses: 3,
                version: 8,
                members: vec![(1, [1; 16]), (2, [2; 16])],
                owners: (0..1024).map(|b| (b % 2 + 1) as u16).collect(),
            }),
            Message::MemberAlive {
                seq: 5,
                table: 8,
                config: 1,
            },
            Message::Leave(Exit::StaleConfig),
        ] {
            let d = encode(&h, &m, cert).unwrap();
            let got = proto::decode(&d).unwrap();
            assert_eq!(got.header, h);
            assert_eq!(got.cert, cert);
            assert_eq!(Message::from_wire(&got.msg), Some(m));
        }
    }
}
