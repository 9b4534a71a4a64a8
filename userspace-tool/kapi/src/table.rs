//! Bucket tables: the `table` and `members` attributes' encodings, the
//! `table-set` request and a table as `table-get` reports it.

use crate::abi::{cluster as a, Cmd, UNOWNED};
use crate::attr::{Attr, Attrs};
use crate::client::Client;
use crate::error::Error;
use crate::mac::Mac;

/// The `table` attribute: one native-endian u16 per bucket.
pub fn encode(owners: &[u16]) -> Vec<u8> {
    owners.iter().flat_map(|o| o.to_ne_bytes()).collect()
}

/// The owners in a `table` attribute.
pub fn decode(b: &[u8]) -> Result<Vec<u16>, Error> {
    if b.len() % 2 != 0 {
        return Err(Error::failed("malformed reply: odd-length table"));
    }
    Ok(b.chunks_exact(2)
        .map(|c| u16::from_ne_bytes([c[0], c[1]]))
        .collect())
}

/// A `table-get` reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// Cluster id.
    pub id: u32,
    /// log2 of the bucket count.
    pub bucket_bits: u32,
    /// The local member, if it has an id yet.
    pub member: Option<u32>,
    /// The owner of each bucket.
    pub owners: Vec<u16>,
    /// Forward mode: the member receiving everything.
    pub forwarder: Option<u32>,
    /// Forward mode: the members' MACs.
    pub macs: Vec<(u16, Mac)>,
}

/// Encodes member MACs as the `members` attribute: u16 id, 6-byte MAC, in
/// increasing id order.
pub fn encode_macs(macs: &[(u16, Mac)]) -> Vec<u8> {
    let mut macs = macs.to_vec();
    macs.sort_by_key(|m| m.0);
    macs.iter()
        .flat_map(|(id, mac)| id.to_ne_bytes().into_iter().chain(mac.0))
        .collect()
}

/// Decodes the `members` attribute.
pub fn decode_macs(b: &[u8]) -> Result<Vec<(u16, Mac)>, Error> {
    if b.len() % 8 != 0 {
        return Err(Error::failed("malformed reply: members not 8-byte records"));
    }
    Ok(b.chunks_exact(8)
        .map(|r| {
            let mut mac = [0u8; 6];
            mac.copy_from_slice(&r[2..]);
            (u16::from_ne_bytes([r[0], r[1]]), Mac(mac))
        })
        .collect())
}

impl Table {
    /// Decodes a `table-get` reply.
    pub fn from_attrs(r: &Attrs) -> Result<Self, Error> {
        let bucket_bits = r.need_u32(a::BUCKET_BITS, "bucket-bits")?;
        let owners = decode(
            r.get(a::TABLE)
                .ok_or_else(|| Error::failed("malformed reply: no table attribute"))?,
        )?;
        if bucket_bits > 31 || owners.len() != 1 << bucket_bits {
            return Err(Error::failed(format!(
                "malformed reply: {} table entries for bucket-bits {bucket_bits}",
                owners.len()
            )));
        }
        Ok(Table {
            id: r.need_u32(a::ID, "id")?,
            bucket_bits,
            member: r.u32(a::MEMBER_ID)?,
            owners,
            forwarder: r.u32(a::FORWARDER)?,
            macs: r.get(a::MEMBERS).map_or(Ok(Vec::new()), decode_macs)?,
        })
    }

    /// Whether bucket owner `o` is the local member.
    pub fn is_local(&self, o: u16) -> bool {
        o != UNOWNED && self.member == Some(u32::from(o))
    }
}

/// Gets cluster `id`'s table over `nl`.
pub fn get(nl: &mut Client, id: u32) -> Result<Table, Error> {
    let r = nl.request(Cmd::TableGet, &[Attr::u32(a::ID, id)])?;
    Table::from_attrs(
        r.first()
            .ok_or_else(|| Error::failed(format!("cluster {id}: empty reply")))?,
    )
}

/// The `table-set` request.
pub fn set_attrs(id: u32, owners: Option<&[u16]>, member: Option<u16>) -> Vec<Attr> {
    let mut v = vec![Attr::u32(a::ID, id)];
    if let Some(o) = owners {
        v.push(Attr::bytes(a::TABLE, &encode(o)));
    }
    if let Some(m) = member {
        v.push(Attr::u32(a::MEMBER_ID, u32::from(m)));
    }
    v
}

/// A table-set request that ends the drains of buckets that came from
/// the members `gone`.
pub fn gone_attrs(id: u32, gone: &[u16]) -> Vec<Attr> {
    vec![Attr::u32(a::ID, id), Attr::bytes(a::GONE, &encode(gone))]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::tests::{feed_all, genl_reply, nla};
    use crate::client::Replies;

    #[test]
    fn table_attribute_encoding() {
        let owners = [1u16, UNOWNED, 300];
        let b = encode(&owners);
        assert_eq!(b.len(), 6);
        assert_eq!(&b[2..4], &[0xff, 0xff]);
        assert_eq!(&b[4..6], &300u16.to_ne_bytes());
        assert_eq!(decode(&b).unwrap(), owners);
        assert!(decode(&b[..5]).is_err());
        let attrs = set_attrs(4, Some(&owners), Some(2));
        assert_eq!(attrs[0], Attr::u32(a::ID, 4));
        assert_eq!(attrs[1], Attr::bytes(a::TABLE, &b));
        assert_eq!(attrs[2], Attr::u32(a::MEMBER_ID, 2));
        assert_eq!(set_attrs(4, Some(&owners), None).len(), 2);
    }

    fn table(bits: u32, member: Option<u32>, owners: &[u16]) -> Table {
        let mut attrs = nla(a::ID, &1u32.to_ne_bytes());
        attrs.extend(nla(a::BUCKET_BITS, &bits.to_ne_bytes()));
        if let Some(m) = member {
            attrs.extend(nla(a::MEMBER_ID, &m.to_ne_bytes()));
        }
        attrs.extend(nla(a::TABLE, &encode(owners)));
        let mut r = Replies::new(0x20, 1);
        feed_all(&mut r, &genl_reply(0x20, Cmd::TableGet as u8, 0, 1, &attrs)).unwrap();
        Table::from_attrs(&r.msgs[0]).unwrap()
    }

    #[test]
    fn forward_mode_fields_round_trip() {
        let macs = vec![
            (1, Mac([2, 0, 0, 0, 0, 1])),
            (300, Mac([2, 0, 0, 0, 1, 44])),
        ];
        let mut attrs = nla(a::ID, &1u32.to_ne_bytes());
        attrs.extend(nla(a::BUCKET_BITS, &1u32.to_ne_bytes()));
        attrs.extend(nla(a::TABLE, &encode(&[1, 300])));
        attrs.extend(nla(a::FORWARDER, &1u32.to_ne_bytes()));
        attrs.extend(nla(a::MEMBERS, &encode_macs(&macs)));
        let mut r = Replies::new(0x20, 1);
        feed_all(&mut r, &genl_reply(0x20, Cmd::TableGet as u8, 0, 1, &attrs)).unwrap();
        let t = Table::from_attrs(&r.msgs[0]).unwrap();
        assert_eq!((t.forwarder, &t.macs), (Some(1), &macs));
        assert!(decode_macs(&[0; 7]).is_err());
    }

    #[test]
    fn table_get_reply_decodes() {
        let t = table(2, Some(3), &[3, 1, UNOWNED, 3]);
        assert_eq!(
            t,
            Table {
                id: 1,
                bucket_bits: 2,
                member: Some(3),
                owners: vec![3, 1, UNOWNED, 3],
                forwarder: None,
                macs: vec![],
            }
        );
        assert!(t.is_local(3) && !t.is_local(1) && !t.is_local(UNOWNED));
        // A table whose length does not match bucket-bits is refused.
        let mut attrs = nla(a::ID, &1u32.to_ne_bytes());
        attrs.extend(nla(a::BUCKET_BITS, &3u32.to_ne_bytes()));
        attrs.extend(nla(a::TABLE, &encode(&[1, 2])));
        let mut r = Replies::new(0x20, 1);
        feed_all(&mut r, &genl_reply(0x20, 5, 0, 1, &attrs)).unwrap();
        assert!(Table::from_attrs(&r.msgs[0]).is_err());
    }
}
