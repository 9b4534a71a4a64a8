// SPDX-License-Identifier: GPL-2.0
//! The two-masters tie-breaker (patent Fig. 8A): the master with more
//! members wins; on equal counts the lower IP address wins.

use core::cmp::Ordering;

/// What a master claims in its keepalive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    /// Members in its cluster, itself included.
    pub members: u32,
    /// Its address on the cluster link (IPv4 as `[0, 0, 0, a]`).
    pub addr: [u32; 4],
}

/// `Greater` when `me` stays master against `other`, `Less` when it must
/// step down and rejoin, `Equal` when `other` is `me` (its own keepalive).
pub fn compare(me: &Claim, other: &Claim) -> Ordering {
    me.members
        .cmp(&other.members)
        .then_with(|| other.addr.cmp(&me.addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(members: u32, a: u32) -> Claim {
        Claim {
            members,
            addr: [0, 0, 0, a],
        }
    }

    #[test]
    fn more_members_win_then_lower_ip() {
        assert_eq!(compare(&c(3, 9), &c(2, 1)), Ordering::Greater);
        assert_eq!(compare(&c(2, 1), &c(3, 9)), Ordering::Less);
        assert_eq!(compare(&c(2, 1), &c(2, 9)), Ordering::Greater);
        assert_eq!(compare(&c(2, 9), &c(2, 1)), Ordering::Less);
        assert_eq!(compare(&c(2, 5), &c(2, 5)), Ordering::Equal);
    }

    #[test]
    fn exactly_one_winner() {
        for a in 1..6 {
            for b in 1..6 {
                for (ma, mb) in [(1, 1), (1, 2), (4, 2)] {
                    let (x, y) = (c(ma, a), c(mb, b));
                    if x != y {
                        assert_eq!(compare(&x, &y), compare(&y, &x).reverse());
                        assert_ne!(compare(&x, &y), Ordering::Equal);
                    }
                }
            }
        }
    }
}
