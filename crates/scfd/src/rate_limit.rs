//! Per-account, per-action request rates: one keyed GCRA limiter (governor; equivalent to a
//! token bucket whose burst is one second's worth) per action, keyed by the account's app_id.
//!
//! In a cluster the count is kept per node, with each limit divided by the number of nodes
//! (`cluster_nodes`, rounded up): behind a load balancer that spreads an account's requests,
//! the cluster as a whole then allows the configured rate. Keeping one shared count in
//! PostgreSQL would put a database round trip on every request's path.

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;

/// SCF's documented rates (reference §1); every other action gets [`DEFAULT_RATE`].
const DOCUMENTED: &[(&str, u32)] = &[
    ("GetRequestStatus", 20),
    ("GetAsyncEventStatus", 20),
    ("ListAsyncEvents", 20),
    ("Invoke", 100),
    ("InvokeFunction", 10_000),
];

/// Tencent Cloud's usual API rate where SCF documents none: 20 requests per second.
pub const DEFAULT_RATE: u32 = 20;

pub struct RateLimits {
    /// `None` = unlimited.
    by_action: HashMap<&'static str, Option<DefaultKeyedRateLimiter<u64>>>,
}

fn limiter(rate: u32) -> Option<DefaultKeyedRateLimiter<u64>> {
    NonZeroU32::new(rate).map(|r| RateLimiter::keyed(Quota::per_second(r)))
}

impl RateLimits {
    /// `overrides` maps action names (or `default`) to requests per second; 0 = unlimited.
    /// `nodes`: how many nodes share the limits (1 for a single server).
    pub fn new(overrides: &HashMap<String, u32>, nodes: u32) -> Result<Self, String> {
        for name in overrides.keys() {
            if name != "default" && !scf_types::actions::SCF_ACTIONS.contains(&name.as_str()) {
                return Err(format!(
                    "[rate_limits] names `{name}`, which is not an SCF action"
                ));
            }
        }
        let default = overrides.get("default").copied().unwrap_or(DEFAULT_RATE);
        let by_action = scf_types::actions::SCF_ACTIONS
            .iter()
            .map(|&action| {
                let documented = DOCUMENTED
                    .iter()
                    .find(|(a, _)| *a == action)
                    .map(|(_, r)| *r);
                let rate = overrides
                    .get(action)
                    .copied()
                    .or(documented)
                    .unwrap_or(default);
                (action, limiter(rate.div_ceil(nodes.max(1))))
            })
            .collect();
        Ok(RateLimits { by_action })
    }

    /// Whether one more `action` request of account `app_id` fits now.
    pub fn check(&self, action: &str, app_id: u64) -> bool {
        match self.by_action.get(action) {
            Some(Some(l)) => l.check_key(&app_id).is_ok(),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_action_and_account() {
        let mut o = HashMap::new();
        o.insert("ListNamespaces".to_string(), 2);
        o.insert("default".to_string(), 0);
        let r = RateLimits::new(&o, 1).expect("valid");
        assert!(r.check("ListNamespaces", 1));
        assert!(r.check("ListNamespaces", 1));
        assert!(
            !r.check("ListNamespaces", 1),
            "third within the second is refused"
        );
        assert!(
            r.check("ListNamespaces", 2),
            "another account has its own bucket"
        );
        for _ in 0..100 {
            assert!(r.check("ListFunctions", 1), "default 0 = unlimited");
        }
        let mut g = 0;
        for _ in 0..30 {
            g += usize::from(r.check("GetRequestStatus", 1));
        }
        assert_eq!(g, 20, "documented rate applies when not overridden");
    }

    #[test]
    fn divides_the_limits_among_the_nodes() {
        let mut o = HashMap::new();
        o.insert("Invoke".to_string(), 5);
        let r = RateLimits::new(&o, 2).expect("valid");
        let allowed = (0..10).filter(|_| r.check("Invoke", 1)).count();
        assert_eq!(allowed, 3, "5 per second over 2 nodes: 3 on this one");
        let r = RateLimits::new(&o, 1).expect("valid");
        assert_eq!((0..10).filter(|_| r.check("Invoke", 1)).count(), 5);
    }

    #[test]
    fn rejects_unknown_action_names() {
        let mut o = HashMap::new();
        o.insert("Bogus".to_string(), 1);
        assert!(RateLimits::new(&o, 1).is_err());
    }
}
