//! TC3 signatures bound to what they were sent with.
//!
//! The official SDKs sign only `content-type;host` and the body (and the query of a GET): the
//! `X-TC-Action`, `X-TC-Region` and `X-TC-Version` headers are outside the signature. A request
//! captured on the wire could therefore be sent again, within its five minutes, as another
//! action or region (a GetFunction turned into a GetFunctionAddress). [`SeenSignatures`]
//! remembers, for every TC3 signature that verified, a fingerprint of those headers, and
//! refuses the signature when it comes back with different ones. The same request repeated
//! unchanged passes, as on Tencent Cloud (SDK retries do exactly that).
//!
//! One exception, for honest clients: two different actions with the same body, signed in
//! the same second, have the same signature (`GetFunction` then `Invoke`, both
//! `{"FunctionName":"f"}`, is what every deploy script does). Such a pair reaches the server
//! within moments of each other, so a signature may come with other headers during a short
//! grace after it was first seen (`[http] signature_reuse_grace_ms`, 2 s); after that, for the
//! rest of its validity, only unchanged. A replay needs a captured request; this leaves an
//! attacker the first two seconds instead of ten minutes.
//!
//! A signature is good while its timestamp is within the clock skew of now, either side:
//! `2 x skew` seconds in all. Entries live in three generations that rotate every `skew`
//! seconds on the monotonic clock, so each is kept at least `2 x skew` whatever the wall
//! clock does. Each entry is 16 bytes (the signature's first 64 bits, which an HMAC spreads
//! evenly, and the fingerprint, keyed per process so it cannot be aimed at). A generation
//! holds at most `max_per_generation` entries, and of those at most a quarter from one
//! account; past either a signature is not remembered (counted in
//! `scf_signature_cache_full_total`), which reopens the replay above only for the account (or
//! the accounts together) sending more than that many TC3 requests per `skew` seconds: one
//! tenant signing at 10k/s cannot make every other tenant's requests replayable.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SHARDS: usize = 16;

/// What is kept of a signature: the fingerprint of what it came with, and when it was first
/// seen (ms since `SeenSignatures::started`).
#[derive(Clone, Copy)]
struct Seen {
    fingerprint: u64,
    first_ms: u64,
}

struct Shard {
    /// Newest first.
    generations: [HashMap<u64, Seen>; 3],
    /// Entries of the newest generation per account (app id).
    by_account: HashMap<u64, usize>,
    rotated: Instant,
}

pub struct SeenSignatures {
    shards: Vec<Mutex<Shard>>,
    fingerprint: RandomState,
    every: Duration,
    grace_ms: u64,
    started: Instant,
    max_per_shard: usize,
    max_per_account_per_shard: usize,
}

impl SeenSignatures {
    pub fn new(skew: Duration, grace: Duration, max_per_generation: usize) -> Self {
        let now = Instant::now();
        SeenSignatures {
            grace_ms: grace.as_millis() as u64,
            started: now,
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        generations: Default::default(),
                        by_account: HashMap::new(),
                        rotated: now,
                    })
                })
                .collect(),
            fingerprint: RandomState::new(),
            every: skew.max(Duration::from_secs(1)),
            max_per_shard: max_per_generation.div_ceil(SHARDS),
            max_per_account_per_shard: (max_per_generation / 4).div_ceil(SHARDS),
        }
    }

    /// Remembers `signature` (64 hex digits) of account `app_id` with `bound`, or returns
    /// `false` if it was seen with something else.
    pub fn check(&self, app_id: u64, signature: &str, bound: &[&str]) -> bool {
        let Some(key) = signature
            .get(..16)
            .and_then(|h| u64::from_str_radix(h, 16).ok())
        else {
            // Not hex: it cannot have verified.
            return false;
        };
        let fingerprint = self.fingerprint.hash_one(bound);
        let shard = &self.shards[(key as usize) % SHARDS];
        let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
        let elapsed = shard.rotated.elapsed();
        if elapsed >= self.every {
            // Rotate once per period passed (at most all three: older ones are gone anyway).
            let periods = (elapsed.as_secs_f64() / self.every.as_secs_f64()) as u32;
            for _ in 0..periods.min(3) {
                shard.generations.rotate_right(1);
                shard.generations[0] = HashMap::new();
            }
            shard.by_account.clear();
            shard.rotated += self.every * periods;
        }
        let now_ms = self.started.elapsed().as_millis() as u64;
        if let Some(seen) = shard.generations.iter().find_map(|g| g.get(&key)) {
            return seen.fingerprint == fingerprint
                || now_ms.saturating_sub(seen.first_ms) < self.grace_ms;
        }
        let account = shard.by_account.get(&app_id).copied().unwrap_or(0);
        if shard.generations[0].len() >= self.max_per_shard
            || account >= self.max_per_account_per_shard
        {
            metrics::counter!("scf_signature_cache_full_total").increment(1);
            return true;
        }
        shard.by_account.insert(app_id, account + 1);
        shard.generations[0].insert(
            key,
            Seen {
                fingerprint,
                first_ms: now_ms,
            },
        );
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIG: &str = "14c2cb7401f1b1743814c5d0af1d3de7c8e5589c207ed7cb8a4c20116f6fd3aa";

    /// Makes every remembered signature `by` older.
    fn age(seen: &mut SeenSignatures, by: Duration) {
        seen.started -= by;
        for s in &seen.shards {
            s.lock().expect("lock").rotated -= by;
        }
    }

    #[test]
    fn the_same_request_again_passes_and_another_action_or_region_does_not() {
        let seen = SeenSignatures::new(Duration::from_secs(300), Duration::ZERO, 1000);
        assert!(seen.check(1, SIG, &["GetFunction", "ap-guangzhou", "2018-04-16"]));
        assert!(seen.check(1, SIG, &["GetFunction", "ap-guangzhou", "2018-04-16"]));
        assert!(!seen.check(
            1,
            SIG,
            &["GetFunctionAddress", "ap-guangzhou", "2018-04-16"]
        ));
        assert!(!seen.check(1, SIG, &["GetFunction", "ap-shanghai", "2018-04-16"]));
        // Field boundaries count: ("ab", "c") is not ("a", "bc").
        let other = "24c2cb7401f1b1743814c5d0af1d3de7c8e5589c207ed7cb8a4c20116f6fd3aa";
        assert!(seen.check(1, other, &["ab", "c"]));
        assert!(!seen.check(1, other, &["a", "bc"]));
        assert!(!seen.check(1, "not hex at all, not even sixteen", &["GetFunction"]));
    }

    #[test]
    fn another_action_with_the_same_signature_is_let_through_only_at_first() {
        let mut seen = SeenSignatures::new(Duration::from_secs(300), Duration::from_secs(2), 1000);
        assert!(seen.check(1, SIG, &["GetFunction"]));
        // An honest script: Invoke with the same body in the same second.
        assert!(seen.check(1, SIG, &["Invoke"]));
        age(&mut seen, Duration::from_secs(3));
        // A replay later, as yet another action or as the second one: refused.
        assert!(!seen.check(1, SIG, &["GetFunctionAddress"]));
        assert!(!seen.check(1, SIG, &["Invoke"]));
        assert!(seen.check(1, SIG, &["GetFunction"]));
    }

    #[test]
    fn a_signature_is_remembered_for_two_periods_then_forgotten() {
        let mut seen = SeenSignatures::new(Duration::from_secs(1), Duration::ZERO, 1000);
        assert!(seen.check(1, SIG, &["A"]));
        age(&mut seen, Duration::from_millis(1500));
        assert!(!seen.check(1, SIG, &["B"]), "kept after one period");
        age(&mut seen, Duration::from_millis(1000));
        assert!(!seen.check(1, SIG, &["B"]), "kept after two periods");
        age(&mut seen, Duration::from_millis(1000));
        assert!(seen.check(1, SIG, &["B"]), "forgotten after three periods");
    }

    #[test]
    fn a_full_generation_stops_remembering_rather_than_growing() {
        let seen = SeenSignatures::new(Duration::from_secs(300), Duration::ZERO, SHARDS);
        let sigs: Vec<String> = (0..64u64)
            .map(|i| format!("{i:016x}{}", &SIG[16..]))
            .collect();
        for s in &sigs {
            assert!(seen.check(1, s, &["A"]));
        }
        let held: usize = seen
            .shards
            .iter()
            .map(|s| s.lock().expect("lock").generations[0].len())
            .sum();
        assert_eq!(held, SHARDS);
    }

    #[test]
    fn one_account_filling_its_share_leaves_the_others_remembered() {
        let seen = SeenSignatures::new(Duration::from_secs(300), Duration::ZERO, 64 * SHARDS);
        let sig = |i: u64| format!("{i:016x}{}", &SIG[16..]);
        // Account 1 signs far more than its quarter: the excess is not remembered...
        for i in 0..100 * SHARDS as u64 {
            assert!(seen.check(1, &sig(i), &["A"]));
        }
        assert!(
            seen.check(1, &sig(99 * SHARDS as u64), &["B"]),
            "past its share, account 1's signatures are not remembered"
        );
        assert!(!seen.check(1, &sig(0), &["B"]), "within its share they are");
        // ...and account 2's still are.
        let other = 1u64 << 40;
        assert!(seen.check(2, &sig(other), &["A"]));
        assert!(
            !seen.check(2, &sig(other), &["B"]),
            "another account is still protected"
        );
    }
}
