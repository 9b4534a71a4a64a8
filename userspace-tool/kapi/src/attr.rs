//! Netlink attributes as the ipcluster ABI encodes them: what we send
//! ([`Attr`]) and what we read back ([`Attrs`]).

use crate::error::Error;

/// One attribute to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    /// Attribute type (`IPCLUSTER_A_*`).
    pub kind: u16,
    /// Payload, unpadded.
    pub data: Vec<u8>,
}

impl Attr {
    /// A native-endian u32.
    pub fn u32(kind: u16, v: u32) -> Self {
        Attr {
            kind,
            data: v.to_ne_bytes().to_vec(),
        }
    }

    /// Raw bytes (binary attributes, and big-endian integers as their bytes).
    pub fn bytes(kind: u16, b: &[u8]) -> Self {
        Attr {
            kind,
            data: b.to_vec(),
        }
    }

    /// A NUL-terminated string.
    pub fn string(kind: u16, s: &str) -> Self {
        let mut data = s.as_bytes().to_vec();
        data.push(0);
        Attr { kind, data }
    }
}

/// The attributes of one received message, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attrs(pub Vec<Attr>);

fn bad(kind: u16, want: &str, got: usize) -> Error {
    Error::failed(format!(
        "malformed reply: attribute {kind} has {got} bytes, expected {want}"
    ))
}

impl Attrs {
    /// The first attribute of type `kind`.
    pub fn get(&self, kind: u16) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|a| a.kind == kind)
            .map(|a| a.data.as_slice())
    }

    /// Every attribute of type `kind` (multi-attr).
    pub fn all(&self, kind: u16) -> impl Iterator<Item = &[u8]> + '_ {
        self.0
            .iter()
            .filter(move |a| a.kind == kind)
            .map(|a| a.data.as_slice())
    }

    /// A fixed-size binary attribute.
    pub fn array<const N: usize>(&self, kind: u16) -> Result<Option<[u8; N]>, Error> {
        self.get(kind)
            .map(|d| d.try_into().map_err(|_| bad(kind, &N.to_string(), d.len())))
            .transpose()
    }

    /// A native-endian u32.
    pub fn u32(&self, kind: u16) -> Result<Option<u32>, Error> {
        Ok(self.array::<4>(kind)?.map(u32::from_ne_bytes))
    }

    /// A native-endian u64; a 4-byte payload is accepted too (the kernel's
    /// `uint` attributes shrink to u32 when the value fits).
    pub fn u64(&self, kind: u16) -> Result<Option<u64>, Error> {
        self.get(kind)
            .map(|d| match d.len() {
                8 => Ok(u64::from_ne_bytes(d.try_into().expect("8 bytes"))),
                4 => Ok(u64::from(u32::from_ne_bytes(
                    d.try_into().expect("4 bytes"),
                ))),
                n => Err(bad(kind, "8", n)),
            })
            .transpose()
    }

    /// A u32 the reply must carry.
    pub fn need_u32(&self, kind: u16, name: &str) -> Result<u32, Error> {
        self.u32(kind)?
            .ok_or_else(|| Error::failed(format!("malformed reply: no {name} attribute")))
    }

    /// Every u32 of a multi-attr.
    pub fn all_u32(&self, kind: u16) -> Result<Vec<u32>, Error> {
        self.all(kind)
            .map(|d| {
                d.try_into()
                    .map(u32::from_ne_bytes)
                    .map_err(|_| bad(kind, "4", d.len()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs() -> Attrs {
        Attrs(vec![
            Attr::u32(1, 7),
            Attr::bytes(2, &[1, 2, 3]),
            Attr::u32(3, 1),
            Attr::u32(3, 2),
            Attr::bytes(4, &5u64.to_ne_bytes()),
            Attr::u32(5, 6),
        ])
    }

    #[test]
    fn typed_getters() {
        let a = attrs();
        assert_eq!(a.u32(1), Ok(Some(7)));
        assert_eq!(a.u32(9), Ok(None));
        assert!(a.u32(2).is_err());
        assert_eq!(a.array::<3>(2), Ok(Some([1, 2, 3])));
        assert_eq!(a.all_u32(3), Ok(vec![1, 2]));
        assert_eq!(a.u64(4), Ok(Some(5)));
        assert_eq!(a.u64(5), Ok(Some(6)));
        assert!(a.u64(2).is_err());
        assert_eq!(a.need_u32(1, "id"), Ok(7));
        assert!(a
            .need_u32(8, "id")
            .unwrap_err()
            .to_string()
            .contains("no id attribute"));
    }

    #[test]
    fn encodings() {
        assert_eq!(Attr::u32(1, 0x0102_0304).data, 0x0102_0304u32.to_ne_bytes());
        assert_eq!(Attr::string(2, "ab").data, b"ab\0");
    }
}
