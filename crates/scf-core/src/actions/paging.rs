//! Offset/Limit checks shared by the List actions (Order is `scf_types::choices::Order`).

use scf_types::{ApiError, ErrorCode};

/// Largest page a List action returns; SCF documents none, 1000 keeps answers small.
pub const MAX_LIMIT: i64 = 1000;
pub const DEFAULT_LIMIT: i64 = 20;

/// `(offset, limit)` from the request: negative values are refused, a zero or absent limit
/// means the default page size.
pub fn page(offset: Option<i64>, limit: Option<i64>) -> Result<(usize, usize), ApiError> {
    let offset = offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::new(
            ErrorCode::InvalidParameterValueOffset,
            format!("Offset {offset} is negative."),
        ));
    }
    let limit = match limit.unwrap_or(0) {
        0 => DEFAULT_LIMIT,
        l if (1..=MAX_LIMIT).contains(&l) => l,
        l => {
            return Err(ApiError::new(
                ErrorCode::InvalidParameterValueLimit,
                format!("Limit {l} is out of range: use 1 to {MAX_LIMIT}."),
            ));
        }
    };
    Ok((offset as usize, limit as usize))
}

/// Applies offset and limit to an already sorted list.
pub fn slice<T>(items: Vec<T>, offset: usize, limit: usize) -> Vec<T> {
    items.into_iter().skip(offset).take(limit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Accepted exactly when Offset is not negative and Limit is absent, 0 or 1 to 1000
        /// (0 and absent meaning 20); otherwise the code for what is wrong.
        #[test]
        fn page_takes_what_the_api_allows(
            offset in prop::option::of(prop_oneof![any::<i64>(), -3..3_i64]),
            limit in prop::option::of(prop_oneof![any::<i64>(), -3..1_003_i64]),
        ) {
            let (o, l) = (offset.unwrap_or(0), limit.unwrap_or(0));
            match page(offset, limit) {
                Ok((got_o, got_l)) => {
                    prop_assert!(o >= 0 && (0..=MAX_LIMIT).contains(&l));
                    prop_assert_eq!(got_o as i64, o);
                    prop_assert_eq!(got_l as i64, if l == 0 { DEFAULT_LIMIT } else { l });
                }
                Err(e) if o < 0 => prop_assert_eq!(e.code, ErrorCode::InvalidParameterValueOffset),
                Err(e) => {
                    prop_assert_eq!(e.code, ErrorCode::InvalidParameterValueLimit);
                    prop_assert!(!(0..=MAX_LIMIT).contains(&l));
                }
            }
        }

        /// A page is the items from Offset on, at most Limit of them (none past the end), and
        /// walking the pages one after another gives back every item once, in order.
        #[test]
        fn pages_cover_the_list_once(
            n in 0..300_usize, offset in 0..400_usize, limit in 1..=1000_usize,
        ) {
            let items: Vec<usize> = (0..n).collect();
            let got = slice(items.clone(), offset, limit);
            let want = &items[offset.min(n)..offset.saturating_add(limit).min(n)];
            prop_assert_eq!(got.as_slice(), want);
            let mut walked = vec![];
            let mut at = 0;
            loop {
                let page = slice(items.clone(), at, limit);
                if page.is_empty() {
                    break;
                }
                prop_assert!(page.len() <= limit);
                walked.extend(page);
                at += limit;
            }
            prop_assert_eq!(walked, items);
        }
    }

    #[test]
    fn pages() {
        assert_eq!(page(None, None).expect("ok"), (0, 20));
        assert_eq!(page(Some(5), Some(2)).expect("ok"), (5, 2));
        assert_eq!(
            page(Some(-1), None).expect_err("neg").code,
            ErrorCode::InvalidParameterValueOffset
        );
        assert_eq!(
            page(None, Some(-1)).expect_err("neg").code,
            ErrorCode::InvalidParameterValueLimit
        );
        assert_eq!(
            page(None, Some(1001)).expect_err("big").code,
            ErrorCode::InvalidParameterValueLimit
        );
        assert_eq!(slice(vec![1, 2, 3, 4], 1, 2), vec![2, 3]);
    }
}
