//! Each account's budget of stored log.
//!
//! A request keeps at most 64 KB of its function's output (the tail, marked `[log
//! truncated]`). That bounds one request, not a tenant: one function printing its 64 KB on
//! every warm invocation grew the database by 47 MB/s. So each account also has a budget,
//! `[limits] log_bytes_per_minute` (4 MB by default), refilled continuously and holding at
//! most a minute's worth. A request whose log does not fit keeps its START, END and Report
//! lines with a note in place of the output; its result, status and figures are recorded as
//! always.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

pub(crate) struct LogBudget {
    per_minute: u64,
    accounts: Mutex<HashMap<u64, (f64, Instant)>>,
}

impl LogBudget {
    /// `per_minute` = 0: no budget.
    pub(crate) fn new(per_minute: u64) -> Self {
        LogBudget {
            per_minute,
            accounts: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn per_minute(&self) -> u64 {
        self.per_minute
    }

    /// Takes `bytes` from `app_id`'s budget, or says it is spent (and takes nothing).
    pub(crate) fn take(&self, app_id: u64, bytes: usize) -> bool {
        if self.per_minute == 0 {
            return true;
        }
        let full = self.per_minute as f64;
        let now = Instant::now();
        let mut accounts = crate::lock(&self.accounts);
        let (left, at) = accounts.entry(app_id).or_insert((full, now));
        *left = (*left + now.duration_since(*at).as_secs_f64() * full / 60.0).min(full);
        *at = now;
        if *left < bytes as f64 {
            return false;
        }
        *left -= bytes as f64;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_spends_its_own_budget_only() {
        let b = LogBudget::new(100_000);
        assert!(b.take(1, 60_000));
        assert!(!b.take(1, 60_000), "only 40 KB are left this minute");
        assert!(b.take(1, 30_000));
        assert!(b.take(2, 60_000), "another account's budget is untouched");
        assert!(LogBudget::new(0).take(1, usize::MAX));
    }

    #[test]
    fn the_budget_refills_with_time_up_to_a_minutes_worth() {
        let b = LogBudget::new(60_000);
        assert!(b.take(7, 60_000));
        // A second's worth is 1,000 bytes: move the account's clock back two seconds.
        {
            let mut a = b.accounts.lock().expect("lock");
            let e = a.get_mut(&7).expect("account");
            e.1 -= std::time::Duration::from_secs(2);
        }
        assert!(b.take(7, 1_900));
        assert!(!b.take(7, 500));
    }
}
