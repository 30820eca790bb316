#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! The dense part of the pickle walker's memo: 4-byte slots addressed by memo key, stored in
//! pages of 4,096 that cost nothing while they are uniform.
//!
//! Picklers memoize in order (`MEMOIZE` stores at `len(memo)`), and on ordinary data most slots
//! say the same thing ("plain data, not kept"), so a page holding one repeated slot for a prefix
//! of its keys is stored as that slot and the prefix length. A `pickle.dump` of millions of
//! tuples, or a hostile stream of 50 million `MEMOIZE` opcodes on one list, then costs a few
//! bytes per 4,096 keys instead of four bytes per key (plus vector growth): memory does not grow
//! with the count. A page becomes an array of slots only when its keys really differ.

const PAGE_BITS: u32 = 12;
const PAGE: usize = 1 << PAGE_BITS;

#[derive(Debug, Clone)]
enum Page {
    /// Keys `0..filled` of the page hold `slot`; the rest are absent.
    Uniform {
        slot: u32,
        filled: u16,
    },
    Slots(Box<[u32]>),
}

/// Dense memo slots; `absent` marks a key that was never stored.
#[derive(Debug, Clone)]
pub struct DenseMemo {
    pages: Vec<Page>,
    absent: u32,
}

impl DenseMemo {
    pub fn new(absent: u32) -> Self {
        Self {
            pages: Vec::new(),
            absent,
        }
    }

    /// Keys addressable without growing (a multiple of the page size).
    pub fn len(&self) -> usize {
        self.pages.len().saturating_mul(PAGE)
    }

    /// The slot at `key`, or `None` past [`DenseMemo::len`]. An absent key inside the range
    /// returns the `absent` marker.
    pub fn get(&self, key: usize) -> Option<u32> {
        let (p, off) = (key >> PAGE_BITS, key & (PAGE - 1));
        Some(match self.pages.get(p)? {
            Page::Uniform { slot, filled } => {
                if off < usize::from(*filled) {
                    *slot
                } else {
                    self.absent
                }
            }
            Page::Slots(s) => s.get(off).copied().unwrap_or(self.absent),
        })
    }

    /// Stores `slot` at `key`; returns whether the key was absent before.
    pub fn set(&mut self, key: usize, slot: u32) -> bool {
        let (p, off) = (key >> PAGE_BITS, key & (PAGE - 1));
        while self.pages.len() <= p {
            self.pages.push(Page::Uniform {
                slot: self.absent,
                filled: 0,
            });
        }
        let absent = self.absent;
        let Some(page) = self.pages.get_mut(p) else {
            return false;
        };
        if let Page::Uniform { slot: s, filled } = page {
            let n = usize::from(*filled);
            if off == n && (n == 0 || *s == slot) {
                // Appending the same slot (or the first one) keeps the page uniform.
                *s = slot;
                *filled = filled.saturating_add(1);
                return true;
            }
            if off < n && *s == slot {
                return false;
            }
            let mut slots = vec![absent; PAGE].into_boxed_slice();
            if let Some(prefix) = slots.get_mut(..n) {
                prefix.fill(*s);
            }
            *page = Page::Slots(slots);
        }
        let Page::Slots(slots) = page else {
            return false;
        };
        match slots.get_mut(off) {
            Some(cell) => {
                let was_absent = *cell == absent;
                *cell = slot;
                was_absent
            }
            None => false,
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
mod tests {
    use super::*;

    const ABSENT: u32 = u32::MAX;

    #[test]
    fn behaves_like_a_plain_vector() {
        // Against a Vec<u32> model, with sequential runs, repeats, overwrites and gaps.
        let mut m = DenseMemo::new(ABSENT);
        let mut model: Vec<u32> = Vec::new();
        let mut seed = 7u64;
        for i in 0..40_000usize {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let key = match seed >> 61 {
                0 => (seed >> 20) as usize % (model.len() + 10),
                _ => model.len().min(i),
            };
            let slot = if (seed >> 40).is_multiple_of(5) {
                (seed >> 8) as u32 % 7
            } else {
                1
            };
            if key >= model.len() {
                model.resize(key + 1, ABSENT);
            }
            let was = model[key] == ABSENT;
            model[key] = slot;
            assert_eq!(m.set(key, slot), was, "key {key}");
        }
        for (k, v) in model.iter().enumerate() {
            assert_eq!(m.get(k), Some(*v), "key {k}");
        }
        assert_eq!(m.get(m.len()), None);
    }

    #[test]
    fn uniform_runs_stay_small() {
        let mut m = DenseMemo::new(ABSENT);
        for k in 0..10_000_000 {
            m.set(k, 5);
        }
        assert!(m.pages.iter().all(|p| matches!(p, Page::Uniform { .. })));
        assert_eq!(m.get(9_999_999), Some(5));
        assert_eq!(m.get(10_000_000), Some(ABSENT));
    }
}
