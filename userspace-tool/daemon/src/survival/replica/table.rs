//! The replica store's connections by id, packed for a million of them:
//! the entries live in fixed-size chunks, and the hash index holds only
//! each entry's place (4 bytes a slot). A map of the entries themselves
//! would hold up to twice as many slots as entries, each the size of an
//! entry, and a vector that doubles would be half empty after it grew.

use std::hash::BuildHasher;

use hashbrown::HashTable;

/// Entries per chunk: the table grows by a chunk, never by doubling.
const CHUNK: usize = 4096;

/// What the table finds an entry by.
pub(crate) trait Keyed {
    fn key(&self) -> u64;
}

/// Entries with distinct keys, at most `u32::MAX` of them.
pub(crate) struct Table<T> {
    /// The entries, every chunk full but the last.
    chunks: Vec<Vec<T>>,
    /// Each entry's place in `chunks`, by the hash of its key.
    index: HashTable<u32>,
    /// Keyed per process (SipHash), as `std`'s maps are: the keys come
    /// from other hosts.
    hasher: std::hash::RandomState,
}

impl<T: Keyed> Table<T> {
    pub(crate) fn new() -> Self {
        Table {
            chunks: Vec::new(),
            index: HashTable::new(),
            hasher: std::hash::RandomState::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    fn at(chunks: &[Vec<T>], place: u32) -> &T {
        let p = place as usize;
        &chunks[p / CHUNK][p % CHUNK]
    }

    fn place(&self, key: u64) -> Option<u32> {
        let hash = self.hasher.hash_one(key);
        let chunks = &self.chunks;
        self.index
            .find(hash, |&p| Self::at(chunks, p).key() == key)
            .copied()
    }

    pub(crate) fn get(&self, key: u64) -> Option<&T> {
        self.place(key).map(|p| Self::at(&self.chunks, p))
    }

    pub(crate) fn get_mut(&mut self, key: u64) -> Option<&mut T> {
        let p = self.place(key)? as usize;
        Some(&mut self.chunks[p / CHUNK][p % CHUNK])
    }

    /// Adds `entry`, whose key must not be here yet; refused (given back)
    /// when the table holds `u32::MAX` entries.
    pub(crate) fn insert(&mut self, entry: T) -> Result<(), T> {
        debug_assert!(self.get(entry.key()).is_none());
        let Ok(place) = u32::try_from(self.len()) else {
            return Err(entry);
        };
        let hash = self.hasher.hash_one(entry.key());
        match self.chunks.last_mut() {
            Some(c) if c.len() < CHUNK => c.push(entry),
            _ => {
                let mut c = Vec::with_capacity(CHUNK);
                c.push(entry);
                self.chunks.push(c);
            }
        }
        let (chunks, hasher) = (&self.chunks, &self.hasher);
        self.index
            .insert_unique(hash, place, |&p| hasher.hash_one(Self::at(chunks, p).key()));
        Ok(())
    }

    /// Takes out the entry of `key`, if here.
    pub(crate) fn remove(&mut self, key: u64) -> Option<T> {
        let place = self.place(key)?;
        Some(self.take(place))
    }

    /// Takes out the entry at `place`; the last entry moves there.
    fn take(&mut self, place: u32) -> T {
        let (chunks, hasher) = (&self.chunks, &self.hasher);
        let key = Self::at(chunks, place).key();
        if let Ok(e) = self.index.find_entry(hasher.hash_one(key), |&p| p == place) {
            e.remove();
        }
        let last = self.index.len() as u32;
        if last != place {
            let moved = hasher.hash_one(Self::at(chunks, last).key());
            if let Some(p) = self.index.find_mut(moved, |&p| p == last) {
                *p = place;
            }
        }
        let tail = self.chunks.last_mut().expect("an entry is here");
        let mut entry = tail.pop().expect("chunks are never left empty");
        if tail.is_empty() {
            self.chunks.pop();
        }
        if last != place {
            let p = place as usize;
            std::mem::swap(&mut self.chunks[p / CHUNK][p % CHUNK], &mut entry);
        }
        entry
    }

    /// Keeps the entries `keep` says to, in any order; returns those that
    /// went.
    pub(crate) fn extract(&mut self, mut keep: impl FnMut(&mut T) -> bool) -> Vec<T> {
        let mut gone = Vec::new();
        // From the end: the entry that moves into a place taken out was
        // judged already.
        for place in (0..self.len() as u32).rev() {
            let p = place as usize;
            if !keep(&mut self.chunks[p / CHUNK][p % CHUNK]) {
                gone.push(self.take(place));
            }
        }
        gone
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct E(u64, u32);

    impl Keyed for E {
        fn key(&self) -> u64 {
            self.0
        }
    }

    /// The keys present, sorted.
    fn keys(t: &Table<E>) -> Vec<u64> {
        let mut k: Vec<u64> = t.iter().map(Keyed::key).collect();
        k.sort_unstable();
        k
    }

    /// Random inserts, removals and extractions (over several chunks)
    /// agree with a map.
    #[test]
    fn the_table_agrees_with_a_map() {
        let mut t = Table::new();
        let mut m = std::collections::HashMap::new();
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut most = 0;
        for step in 0..100_000u32 {
            let k = next() % 20_000;
            match next() % 8 {
                0..=3 if !m.contains_key(&k) => {
                    t.insert(E(k, step)).unwrap();
                    m.insert(k, step);
                }
                4..=5 => assert_eq!(t.remove(k).map(|e| e.1), m.remove(&k)),
                6 if step % 1000 == 0 => {
                    let cut = next() % 20_000;
                    let mut gone: Vec<u64> = t.extract(|e| e.0 < cut).iter().map(|e| e.0).collect();
                    gone.sort_unstable();
                    let mut want: Vec<u64> = m.keys().copied().filter(|&k| k >= cut).collect();
                    want.sort_unstable();
                    assert_eq!(gone, want);
                    m.retain(|&k, _| k < cut);
                }
                _ => assert_eq!(t.get(k).map(|e| e.1), m.get(&k).copied()),
            }
            assert_eq!(t.len(), m.len());
            assert_eq!(t.chunks.len(), t.len().div_ceil(CHUNK));
            most = most.max(t.len());
        }
        assert!(most > 2 * CHUNK);
        let mut all: Vec<(u64, u32)> = t.iter().map(|e| (e.0, e.1)).collect();
        all.sort_unstable();
        let mut want: Vec<(u64, u32)> = m.into_iter().collect();
        want.sort_unstable();
        assert_eq!(all, want);
    }

    #[test]
    fn entries_are_found_after_others_moved_and_chunks_come_and_go() {
        let mut t = Table::new();
        let n = 2 * CHUNK as u64 + 10;
        for k in 0..n {
            t.insert(E(k * 7, 0)).unwrap();
        }
        assert_eq!((t.len(), t.chunks.len()), (n as usize, 3));
        // Taking out the first moves the last into its place.
        assert_eq!(t.remove(0), Some(E(0, 0)));
        assert_eq!(t.remove(0), None);
        t.get_mut((n - 1) * 7).unwrap().1 = 9;
        assert_eq!(t.get((n - 1) * 7), Some(&E((n - 1) * 7, 9)));
        // Every other one goes: the last chunk empties and goes too.
        let gone = t.extract(|e| e.0 % 2 == 0);
        assert_eq!(gone.len(), (n / 2) as usize);
        assert_eq!(t.len(), (n / 2 - 1) as usize);
        assert_eq!(t.chunks.len(), 2);
        let want: Vec<u64> = (1..n).map(|k| k * 7).filter(|k| k % 2 == 0).collect();
        assert_eq!(keys(&t), want);
        for k in want {
            assert_eq!(t.get(k).map(Keyed::key), Some(k));
        }
        // Emptied, then used again.
        t.extract(|_| false);
        assert_eq!((t.len(), t.chunks.len(), t.iter().count()), (0, 0, 0));
        t.insert(E(3, 1)).unwrap();
        assert_eq!(t.get(3), Some(&E(3, 1)));
    }
}
