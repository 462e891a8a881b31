//! The API's closed string choices as enums: each is a [`Ty::Enum`] in the schema (so a value
//! outside the set is refused with its own code before typing, see
//! [`crate::schema::check`]) and a serde type of its own.
//!
//! Declared with [`choice!`]; an optional field of one is an `Option` of it, and the empty
//! string (some clients' "unset") reads as absent: [`crate::schema::check`] takes it out.

use crate::schema::EnumSpec;
use serde::de::{Deserialize, Deserializer, Error as _};

/// A closed set of wire strings.
pub trait Choice: Sized + Copy + 'static {
    const SPEC: EnumSpec;
    /// In the order of `SPEC.values`.
    const ALL: &'static [Self];

    fn from_wire(value: &str) -> Option<Self> {
        Self::SPEC.find(value).map(|i| Self::ALL[i])
    }
}

/// Declares a [`Choice`] enum: `choice! { enum Name(Code, any_case = false) { A = "a", } }`.
#[macro_export]
macro_rules! choice {
    ($(#[$m:meta])* pub enum $name:ident ($code:ident, any_case = $ci:literal) {
        $($(#[$vm:meta])* $variant:ident = $wire:literal,)+
    }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($(#[$vm])* $variant,)+ }

        impl $crate::choices::Choice for $name {
            const SPEC: $crate::schema::EnumSpec = $crate::schema::EnumSpec {
                values: &[$($wire),+],
                any_case: $ci,
                code: $crate::ErrorCode::$code,
            };
            const ALL: &'static [Self] = &[$($name::$variant),+];
        }

        impl $name {
            /// The wire spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire,)+ }
            }
        }

        impl $crate::schema::Param for $name {
            const TY: $crate::schema::Ty =
                $crate::schema::Ty::Enum(&<$name as $crate::choices::Choice>::SPEC);
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $crate::choices::deserialize(d)
            }
        }
    };
}

/// Reads one choice (the schema check has refused anything else with its code already; this
/// error is for a caller that skipped it).
pub fn deserialize<'de, D: Deserializer<'de>, C: Choice>(d: D) -> Result<C, D::Error> {
    let value = String::deserialize(d)?;
    C::from_wire(&value).ok_or_else(|| D::Error::custom(C::SPEC.refuse("value", &value).message))
}

choice! {
    /// Invoke's InvocationType.
    pub enum InvocationType(InvalidParameterValue, any_case = false) {
        /// Run now and answer with the result (the default).
        RequestResponse = "RequestResponse",
        /// Accept, answer with the request id, run in the background.
        Event = "Event",
    }
}

choice! {
    /// Invoke's and InvokeFunction's LogType.
    pub enum LogType(InvalidParameterValue, any_case = false) {
        /// No log in the answer (the default).
        None = "None",
        /// The request's log in the answer's `Log`.
        Tail = "Tail",
    }
}

choice! {
    /// A List action's sort direction, in any case (`asc`, `DESC`).
    pub enum Order(InvalidParameterValueOrder, any_case = true) {
        Asc = "ASC",
        Desc = "DESC",
    }
}

impl Order {
    /// `true` for descending; `default_desc` when the request did not say.
    pub fn descending(order: Option<Order>, default_desc: bool) -> bool {
        order.map_or(default_desc, |o| o == Order::Desc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use crate::schema::{Field, Param, RawParams, Ty, check};
    use serde_json::json;

    const FIELDS: &[Field] = &[
        Field {
            name: "Order",
            ty: <Order as Param>::TY,
            required: false,
        },
        Field {
            name: "InvocationType",
            ty: <InvocationType as Param>::TY,
            required: false,
        },
    ];

    fn checked(v: serde_json::Value) -> Result<(), crate::ApiError> {
        let serde_json::Value::Object(map) = v else {
            panic!("an object")
        };
        check(FIELDS, RawParams::Json(map)).map(drop)
    }

    #[test]
    fn a_value_outside_the_set_gets_its_parameters_code() {
        let e = checked(json!({"Order": "UP"})).expect_err("refused");
        assert_eq!(e.code, ErrorCode::InvalidParameterValueOrder);
        assert_eq!(e.message, "Order `UP` is invalid: use ASC or DESC.");
        let e = checked(json!({"InvocationType": "event"})).expect_err("case matters here");
        assert_eq!(e.code, ErrorCode::InvalidParameterValue);
        assert!(
            e.message.contains("use RequestResponse or Event"),
            "{}",
            e.message
        );
        checked(json!({"Order": "desc", "InvocationType": ""})).expect("any case; empty is unset");
        let pairs = vec![("Order".to_string(), "sideways".to_string())];
        let e = check(FIELDS, RawParams::Pairs(pairs)).expect_err("pairs too");
        assert_eq!(e.code, ErrorCode::InvalidParameterValueOrder);
    }

    #[derive(serde::Deserialize)]
    struct Req {
        #[serde(rename = "Order")]
        order: Option<Order>,
        #[serde(rename = "InvocationType")]
        kind: Option<InvocationType>,
    }

    fn typed(raw: RawParams) -> Req {
        let map = check(FIELDS, raw).expect("checked");
        serde_json::from_value(serde_json::Value::Object(map)).expect("typed")
    }

    #[test]
    fn typed_in_any_case_with_empty_as_absent() {
        let r = typed(RawParams::Json(
            json!({"Order": "aSc", "InvocationType": ""})
                .as_object()
                .cloned()
                .expect("object"),
        ));
        assert_eq!((r.order, r.kind), (Some(Order::Asc), None));
        let pairs = vec![
            ("Order".to_string(), String::new()),
            ("InvocationType".to_string(), "Event".to_string()),
        ];
        let r = typed(RawParams::Pairs(pairs));
        assert_eq!((r.order, r.kind), (None, Some(InvocationType::Event)));
        assert!(serde_json::from_value::<Req>(json!({"InvocationType": "Events"})).is_err());
        // Below an object too.
        const INNER: &[Field] = &[Field {
            name: "Order",
            ty: <Order as Param>::TY,
            required: false,
        }];
        const OUTER: &[Field] = &[Field {
            name: "Filter",
            ty: Ty::Obj(INNER),
            required: false,
        }];
        let map = json!({"Filter": {"Order": ""}})
            .as_object()
            .cloned()
            .expect("object");
        let checked = check(OUTER, RawParams::Json(map)).expect("checked");
        assert_eq!(serde_json::Value::Object(checked), json!({"Filter": {}}));
        assert!(Order::descending(None, true) && !Order::descending(Some(Order::Asc), true));
        assert_eq!(LogType::from_wire("Tail"), Some(LogType::Tail));
        assert_eq!(LogType::Tail.as_str(), "Tail");
    }
}
