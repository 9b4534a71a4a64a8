// SPDX-License-Identifier: GPL-2.0
//! The master's bucket assignment rules (patent Figs. 8D and 8E).
//!
//! An owner table is a slice with one [`MemberId`] per bucket. Weights are
//! per-bucket loads (every member sees every packet, so every member's
//! kernel counts every bucket). A member's load is the sum of the weights of
//! its buckets plus one per bucket, so that with no traffic at all the rules
//! still spread buckets evenly.

/// A member's identity within one cluster.
pub type MemberId = u16;

/// Owner of a bucket that nobody serves: its packets are dropped everywhere.
pub const UNOWNED: MemberId = MemberId::MAX;

/// A proposed move of one bucket; it counts once the receiver acknowledges it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Move {
    /// The bucket.
    pub bucket: usize,
    /// Its owner now.
    pub from: MemberId,
    /// Its owner after the move.
    pub to: MemberId,
}

fn weight(weights: &[u64], b: usize) -> u64 {
    weights.get(b).copied().unwrap_or(0).saturating_add(1)
}

/// The load of member `m` under `owners`.
pub fn member_load(owners: &[MemberId], weights: &[u64], m: MemberId) -> u64 {
    owners
        .iter()
        .enumerate()
        .filter(|&(_, &o)| o == m)
        .fold(0u64, |acc, (b, _)| acc.saturating_add(weight(weights, b)))
}

fn least_loaded(
    owners: &[MemberId],
    weights: &[u64],
    members: &[MemberId],
) -> Option<(MemberId, u64)> {
    members
        .iter()
        .map(|&m| (m, member_load(owners, weights, m)))
        .min_by_key(|&(m, load)| (load, m))
}

/// Gives every unowned bucket (or one owned by a member not in `members`)
/// to the least-loaded live member, heaviest buckets first so that the
/// greedy spread stays tight. Returns how many buckets changed hands.
pub fn assign_unowned(owners: &mut [MemberId], weights: &[u64], members: &[MemberId]) -> usize {
    if members.is_empty() {
        return 0;
    }
    let mut changed = 0;
    for o in owners.iter_mut() {
        if !members.contains(o) {
            *o = UNOWNED;
        }
    }
    // Repeatedly pick the heaviest orphan: O(B²) worst case, B ≤ 4096, run
    // only when membership changes.
    while let Some(b) = (0..owners.len())
        .filter(|&b| owners[b] == UNOWNED)
        .max_by_key(|&b| (weight(weights, b), core::cmp::Reverse(b)))
    {
        let Some((m, _)) = least_loaded(owners, weights, members) else {
            break;
        };
        owners[b] = m;
        changed += 1;
    }
    changed
}

/// Gives up every bucket of member `m` (it died or left).
pub fn release(owners: &mut [MemberId], m: MemberId) -> usize {
    let mut n = 0;
    for o in owners.iter_mut().filter(|o| **o == m) {
        *o = UNOWNED;
        n += 1;
    }
    n
}

/// One rebalancing step: a bucket of the most loaded member that, moved to
/// the least loaded one, narrows the gap between them the most. `None` when
/// no move helps (the patent's "would moving one work unit have any effect")
/// or the gap is within the noise of the weights.
pub fn rebalance_step(owners: &[MemberId], weights: &[u64], members: &[MemberId]) -> Option<Move> {
    let loads = members
        .iter()
        .map(|&m| (m, member_load(owners, weights, m)));
    let (most, hi) = loads
        .clone()
        .max_by_key(|&(m, l)| (l, core::cmp::Reverse(m)))?;
    let (least, lo) = loads.min_by_key(|&(m, l)| (l, m))?;
    let gap = hi - lo;
    // Weights count packets over a while. Counts of independent arrivals
    // vary by about the square root of their mean, so a gap within three
    // times that is no imbalance: moving buckets for it would chase the
    // noise, one reading after another, for as long as the traffic runs.
    let buckets = |m| owners.iter().filter(|&&o| o == m).count() as u64;
    let traffic = hi
        .saturating_sub(buckets(most))
        .saturating_add(lo.saturating_sub(buckets(least)));
    if u128::from(gap).pow(2) <= 9 * u128::from(traffic) {
        return None;
    }
    // Moving weight w leaves a gap of |gap − 2w|: it helps iff 0 < w < gap.
    let (bucket, _) = owners
        .iter()
        .enumerate()
        .filter(|&(_, &o)| o == most)
        .map(|(b, _)| (b, weight(weights, b)))
        .filter(|&(_, w)| w < gap)
        .min_by_key(|&(b, w)| (gap.abs_diff(2 * w), b))?;
    Some(Move {
        bucket,
        from: most,
        to: least,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
    }

    fn spread(owners: &[MemberId], weights: &[u64], members: &[MemberId]) -> u64 {
        let l: Vec<u64> = members
            .iter()
            .map(|&m| member_load(owners, weights, m))
            .collect();
        l.iter().max().unwrap() - l.iter().min().unwrap()
    }

    extern crate std;
    use std::vec::Vec;

    #[test]
    fn idle_cluster_splits_evenly() {
        let mut owners = [UNOWNED; 1024];
        let members = [3, 7, 9];
        assert_eq!(assign_unowned(&mut owners, &[], &members), 1024);
        let counts: Vec<usize> = members
            .iter()
            .map(|m| owners.iter().filter(|o| *o == m).count())
            .collect();
        assert_eq!(counts.iter().sum::<usize>(), 1024);
        assert!(counts.iter().all(|&c| c == 341 || c == 342), "{counts:?}");
        assert_eq!(rebalance_step(&owners, &[], &members), None);
    }

    #[test]
    fn dead_member_buckets_go_to_survivors() {
        let mut owners = [UNOWNED; 1024];
        assign_unowned(&mut owners, &[], &[1, 2, 3, 4]);
        assert_eq!(release(&mut owners, 2), 256);
        assert_eq!(assign_unowned(&mut owners, &[], &[1, 3, 4]), 256);
        assert!(owners.iter().all(|o| [1, 3, 4].contains(o)));
        // Owners not in the member list are treated as dead too.
        assert_eq!(assign_unowned(&mut owners, &[], &[1, 3]), 341);
        assert!(owners.iter().all(|o| [1, 3].contains(o)));
    }

    #[test]
    fn rebalancing_converges_and_never_widens_the_gap() {
        let mut rng = Lcg(42);
        for round in 0..50 {
            let n = 2 + (rng.next() % 6) as usize;
            let members: Vec<MemberId> = (0..n as MemberId).collect();
            let weights: Vec<u64> = (0..1024).map(|_| rng.next() % 1000).collect();
            // Start lopsided: everything on member 0.
            let mut owners = [0 as MemberId; 1024];
            let mut gap = spread(&owners, &weights, &members);
            let mut steps = 0;
            while let Some(mv) = rebalance_step(&owners, &weights, &members) {
                assert_eq!(owners[mv.bucket], mv.from);
                owners[mv.bucket] = mv.to;
                let g = spread(&owners, &weights, &members);
                assert!(g <= gap || steps < n, "round {round}: gap {gap} -> {g}");
                gap = gap.min(g);
                steps += 1;
                assert!(steps < 5000, "round {round} does not converge");
            }
            // Converged: within the heaviest bucket of the ideal.
            let max_w = weights.iter().max().unwrap() + 1;
            assert!(
                spread(&owners, &weights, &members) <= 2 * max_w,
                "round {round}"
            );
        }
    }

    #[test]
    fn a_gap_within_the_noise_of_the_traffic_moves_nothing() {
        let members = [1, 2];
        let mut owners = [1 as MemberId; 8];
        owners[4..].fill(2);
        // 100 packets against 130: within 3 × √230 ≈ 45.
        let mut weights = [0u64; 8];
        weights[0] = 100;
        weights[4] = 130;
        assert_eq!(rebalance_step(&owners, &weights, &members), None);
        // 100 against 160 is not; nor is any gap without traffic.
        weights[4] = 160;
        assert!(rebalance_step(&owners, &weights, &members).is_some());
        owners[4..6].fill(1);
        assert!(rebalance_step(&owners, &[], &members).is_some());
    }

    #[test]
    fn no_members_no_change() {
        let mut owners = [UNOWNED; 16];
        assert_eq!(assign_unowned(&mut owners, &[], &[]), 0);
        assert_eq!(rebalance_step(&owners, &[], &[]), None);
    }
}
