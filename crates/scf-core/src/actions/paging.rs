//! Offset/Limit/Order checks shared by the List actions.

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

/// `ASC` or `DESC` (any case); `true` for descending.
pub fn descending(order: Option<&str>, default_desc: bool) -> Result<bool, ApiError> {
    match order.map(str::to_ascii_uppercase).as_deref() {
        None | Some("") => Ok(default_desc),
        Some("ASC") => Ok(false),
        Some("DESC") => Ok(true),
        Some(_) => Err(ApiError::new(
            ErrorCode::InvalidParameterValueOrder,
            format!(
                "Order `{}` is invalid: use ASC or DESC.",
                order.unwrap_or_default()
            ),
        )),
    }
}

/// Applies offset and limit to an already sorted list.
pub fn slice<T>(items: Vec<T>, offset: usize, limit: usize) -> Vec<T> {
    items.into_iter().skip(offset).take(limit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(descending(Some("desc"), false).expect("ok"));
        assert!(!descending(None, false).expect("ok"));
        assert_eq!(
            descending(Some("UP"), false).expect_err("bad").code,
            ErrorCode::InvalidParameterValueOrder
        );
        assert_eq!(slice(vec![1, 2, 3, 4], 1, 2), vec![2, 3]);
    }
}
