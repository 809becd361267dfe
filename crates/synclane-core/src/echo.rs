//! Echo suppression: a bounded memory of the op ids this device pushed recently. When the
//! server streams one of them back, the engine skips applying it and fires no change event,
//! because the local database already holds that write (or a newer one).

use std::collections::{HashSet, VecDeque};

/// A bounded set of recently pushed op ids; the oldest are forgotten first.
#[derive(Debug, Clone)]
pub struct RecentOpCache {
    capacity: usize,
    order: VecDeque<String>,
    members: HashSet<String>,
}

impl RecentOpCache {
    /// A cache holding at most `capacity` ids (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        RecentOpCache {
            capacity,
            order: VecDeque::with_capacity(capacity),
            members: HashSet::with_capacity(capacity),
        }
    }

    /// Remembers an op id; evicts the oldest when full.
    pub fn remember(&mut self, op_id: &str) {
        if self.members.contains(op_id) {
            return;
        }
        if self.order.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.members.remove(&oldest);
            }
        }
        self.order.push_back(op_id.to_owned());
        self.members.insert(op_id.to_owned());
    }

    /// Whether an incoming change is our own write coming back.
    pub fn is_echo(&self, op_id: &str) -> bool {
        self.members.contains(op_id)
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

impl Default for RecentOpCache {
    fn default() -> Self {
        RecentOpCache::new(2048)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_recent_ids_and_forgets_the_oldest_first() {
        let mut cache = RecentOpCache::new(3);
        for id in ["a", "b", "c"] {
            cache.remember(id);
        }
        assert!(cache.is_echo("a") && cache.is_echo("c"));
        cache.remember("b"); // already there: no reordering, no growth
        assert_eq!(cache.len(), 3);
        cache.remember("d");
        assert!(!cache.is_echo("a"), "oldest evicted");
        assert!(cache.is_echo("b") && cache.is_echo("d"));
        assert_eq!(cache.len(), 3);
        assert!(!cache.is_echo("zzz"));
    }

    #[test]
    fn capacity_is_at_least_one() {
        let mut cache = RecentOpCache::new(0);
        cache.remember("x");
        cache.remember("y");
        assert_eq!(cache.len(), 1);
        assert!(cache.is_echo("y") && !cache.is_echo("x"));
        assert!(RecentOpCache::default().is_empty());
    }
}
