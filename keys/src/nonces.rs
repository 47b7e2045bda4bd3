//! The key service's table of issued nonces: single use, a lifetime each, and a cap on how many
//! are outstanding, with O(1) amortised work per nonce (issue order is expiry order, so expired
//! and evicted nonces leave from the front of a queue), so a flood of challenges costs the
//! service neither memory beyond the cap nor time per request that grows with the flood.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Issued, unspent nonces.
#[derive(Debug)]
pub struct NonceTable {
    ttl: Duration,
    cap: usize,
    live: HashMap<[u8; 32], Instant>,
    /// Every nonce issued and not yet dropped from the front, in issue order (spent ones too:
    /// they are skipped when they reach the front).
    order: VecDeque<([u8; 32], Instant)>,
}

/// At most this many nonces are outstanding by default; beyond it the oldest is evicted.
pub const DEFAULT_CAP: usize = 65_536;

impl NonceTable {
    /// A table whose nonces live `ttl`, holding at most `cap` (at least 1).
    pub fn new(ttl: Duration, cap: usize) -> Self {
        NonceTable {
            ttl,
            cap: cap.max(1),
            live: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Drops the front entry, and its nonce if it is still the one issued then.
    fn pop_front(&mut self) {
        if let Some((nonce, issued)) = self.order.pop_front()
            && self.live.get(&nonce) == Some(&issued)
        {
            self.live.remove(&nonce);
        }
    }

    /// Records a fresh nonce, first dropping expired ones and, at the cap, the oldest.
    pub fn issue(&mut self, nonce: [u8; 32]) {
        let now = Instant::now();
        while self
            .order
            .front()
            .is_some_and(|(_, issued)| now.duration_since(*issued) >= self.ttl)
        {
            self.pop_front();
        }
        while self.order.len() >= self.cap {
            self.pop_front();
        }
        self.live.insert(nonce, now);
        self.order.push_back((nonce, now));
    }

    /// Spends `nonce`: when it was issued, if it was and is still held.
    pub fn take(&mut self, nonce: &[u8; 32]) -> Option<Instant> {
        self.live.remove(nonce)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(i: u32) -> [u8; 32] {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&i.to_le_bytes());
        b
    }

    #[test]
    fn single_use_and_capped_with_the_oldest_evicted() {
        let mut t = NonceTable::new(Duration::from_secs(60), 3);
        for i in 0..3 {
            t.issue(n(i));
        }
        assert!(t.take(&n(1)).is_some());
        assert!(t.take(&n(1)).is_none(), "single use");
        t.issue(n(3));
        t.issue(n(4));
        // Cap 3 counts issue order: 0 and 1 (spent) left the front, 2, 3 and 4 remain.
        assert!(t.take(&n(0)).is_none(), "evicted");
        assert_eq!(t.live.len(), 3);
        for i in 2..5 {
            assert!(t.take(&n(i)).is_some(), "{i}");
        }
        assert!(t.live.is_empty());
        // A flood stays within the cap.
        for i in 0..10_000 {
            t.issue(n(i));
        }
        assert_eq!((t.live.len(), t.order.len()), (3, 3));
    }

    #[test]
    fn expired_nonces_leave_as_new_ones_arrive() {
        let mut t = NonceTable::new(Duration::ZERO, 100);
        t.issue(n(1));
        t.issue(n(2));
        assert_eq!(t.live.len(), 1, "n(1) expired when n(2) was issued");
        assert!(t.take(&n(1)).is_none());
    }
}
