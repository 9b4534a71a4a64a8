//! Interface names and indexes (`if_nametoindex(3)`, `if_indextoname(3)`).

use std::ffi::{CStr, CString};

use crate::error::Error;

/// The ifindex of interface `name`; "no such device" if there is none.
pub fn index(name: &str) -> Result<u32, Error> {
    let c =
        CString::new(name).map_err(|_| Error::failed(format!("dev \"{name}\": no such device")))?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        return Err(Error::failed(format!("dev \"{name}\": no such device")));
    }
    Ok(i)
}

/// The name of interface `ifindex`, or `if<N>` (as `ip` prints) if it has
/// none in this namespace.
pub fn name(ifindex: u32) -> String {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has the IF_NAMESIZE bytes if_indextoname may write.
    let p = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr()) };
    if p.is_null() {
        return format!("if{ifindex}");
    }
    // SAFETY: on success `buf` holds a NUL-terminated name.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_round_trips() {
        let i = index("lo").expect("every namespace has lo");
        assert_eq!(name(i), "lo");
    }

    #[test]
    fn missing_devices() {
        assert_eq!(
            index("nosuchdev0"),
            Err(Error::failed("dev \"nosuchdev0\": no such device"))
        );
        assert_eq!(name(0), "if0");
    }
}
