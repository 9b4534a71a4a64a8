//! [`node::Message`]s to and from datagrams (`ipcluster_core::proto`).
//! Signing and checking signatures, certificates and replay counters
//! happen around these, in the daemon.

use std::time::Duration;

use ipcluster_core::proto::{self, Header, Member, Msg};

use super::node::{Keepalive, Message};

/// Largest datagram.
pub(crate) const MAX_DATAGRAM: usize = proto::HEADER_LEN + proto::MAX_BODY + proto::SIG_LEN;

/// Encodes `msg` with `header`, the signature left zero; `cert` is sent
/// with joins and welcomes.
pub(crate) fn encode(header: &Header, msg: &Message, cert: &[u8]) -> Result<Vec<u8>, proto::Error> {
    let mut out = vec![0u8; MAX_DATAGRAM];
    let (mut mb, mut ob) = (Vec::new(), Vec::new());
    let m = match msg {
        Message::Join { .. } => Msg::Join { cert },
        Message::Welcome { member, config } => Msg::Welcome {
            member: *member,
            config: *config,
            cert,
        },
        Message::Refuse(why) => Msg::Refuse { why: *why },
        Message::Offer { members } => Msg::Offer { members: *members },
        Message::Object { members } => Msg::Object { members: *members },
        Message::MasterAlive(k) => {
            let members: Vec<Member> = k
                .members
                .iter()
                .map(|&(id, addr)| Member { id, addr })
                .collect();
            mb.resize(members.len() * 18, 0);
            proto::encode_members(&members, &mut mb)?;
            ob.resize(k.owners.len() * 2, 0);
            proto::encode_owners(&k.owners, &mut ob)?;
            let period = u16::try_from(k.period.as_millis()).unwrap_or(u16::MAX);
            Msg::MasterAlive(proto::MasterAlive::new(
                k.config,
                (period, k.misses),
                k.version,
                &mb,
                &ob,
            ))
        }
        Message::MemberAlive { seq, table } => Msg::MemberAlive {
            seq: *seq,
            table: *table,
        },
        Message::Leave(why) => Msg::Leave { why: *why },
    };
    let n = proto::encode(header, &m, &mut out)?;
    out.truncate(n);
    Ok(out)
}

/// The node's view of a decoded message; the certificate of a join or a
/// welcome comes back beside it for the daemon to check.
pub(crate) fn message<'a>(msg: &Msg<'a>) -> (Message, Option<&'a [u8]>) {
    match *msg {
        Msg::Join { cert } => (Message::Join { refused: None }, Some(cert)),
        Msg::Welcome {
            member,
            config,
            cert,
        } => (Message::Welcome { member, config }, Some(cert)),
        Msg::Refuse { why } => (Message::Refuse(why), None),
        Msg::Offer { members } => (Message::Offer { members }, None),
        Msg::Object { members } => (Message::Object { members }, None),
        Msg::MasterAlive(k) => (
            Message::MasterAlive(Keepalive {
                config: k.config,
                period: Duration::from_millis(u64::from(k.period_ms)),
                misses: k.misses,
                version: k.table_version,
                members: k.members.iter().map(|m| (m.id, m.addr)).collect(),
                owners: k.owners.iter().collect(),
            }),
            None,
        ),
        Msg::MemberAlive { seq, table } => (Message::MemberAlive { seq, table }, None),
        Msg::Leave { why } => (Message::Leave(why), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipcluster_core::proto::{Exit, Nak};

    #[test]
    fn messages_survive_the_wire() {
        let h = Header {
            sender: 2,
            cluster: 7,
            counter: 99,
        };
        let cert = b"certificate";
        for m in [
            Message::Join { refused: None },
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
            Message::MemberAlive { seq: 5, table: 8 },
            Message::Leave(Exit::StaleConfig),
        ] {
            let d = encode(&h, &m, cert).unwrap();
            let got = proto::decode(&d).unwrap();
            assert_eq!(got.header, h);
            let (back, c) = message(&got.msg);
            assert_eq!(back, m);
            if matches!(m, Message::Join { .. } | Message::Welcome { .. }) {
                assert_eq!(c, Some(&cert[..]));
            }
        }
    }
}
