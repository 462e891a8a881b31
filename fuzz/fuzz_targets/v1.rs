//! The legacy v1 signature (`scf_types::sign`): the string to sign, HmacSHA1 and HmacSHA256.
//!
//! Input (invalid UTF-8 replaced): `\0`-separated fields: method, host, secret key,
//! SignatureMethod, then parameter key and value pairs. Properties:
//! * the string to sign is `METHOD + host + "/?"` and the parameters, `Signature` left out,
//!   keys with `_` as `.`, sorted by bytes (stably); it reads back into exactly those pairs
//!   when no key holds `=` or `&` and no value `&` (the scheme itself cannot tell those apart:
//!   values are signed raw);
//! * the order the parameters arrive in does not matter when their signed keys differ, and
//!   adding a `Signature` parameter changes nothing;
//! * HMAC-SHA256 exactly when SignatureMethod is `HmacSHA256`; each method's signature is
//!   base64 of 20 or 32 bytes and verifies, and another key, another method or another string
//!   does not.

#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use scf_types::sign::{V1Method, v1_sign_string, v1_signature, v1_verify};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let fields: Vec<&str> = text.split('\0').collect();
    let [method, host, key, signature_method, rest @ ..] = fields.as_slice() else {
        return;
    };
    let pairs: Vec<(&str, &str)> = rest.chunks_exact(2).map(|p| (p[0], p[1])).collect();
    check(method, host, key, signature_method, &pairs);
});

fn check(method: &str, host: &str, key: &str, signature_method: &str, pairs: &[(&str, &str)]) {
    let s = v1_sign_string(method, host, pairs.iter().copied());
    let prefix = format!("{method}{host}/?");
    let joined = s.strip_prefix(&prefix).expect("METHOD + host + /? first");

    let mut signed: Vec<(String, &str)> = pairs
        .iter()
        .filter(|(k, _)| *k != "Signature")
        .map(|(k, v)| (k.replace('_', "."), *v))
        .collect();
    signed.sort_by(|a, b| a.0.cmp(&b.0));
    let unambiguous = signed
        .iter()
        .all(|(k, v)| !k.contains(['=', '&']) && !v.contains('&'));
    if unambiguous {
        let back: Vec<(&str, &str)> = if signed.is_empty() {
            assert_eq!(joined, "");
            vec![]
        } else {
            joined
                .split('&')
                .map(|kv| kv.split_once('=').expect("k=v"))
                .collect()
        };
        let want: Vec<(&str, &str)> = signed.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(back, want, "{s:?}");
    }
    let distinct = signed.windows(2).all(|w| w[0].0 != w[1].0);
    if distinct {
        assert_eq!(v1_sign_string(method, host, pairs.iter().rev().copied()), s);
    }
    let with_signature = pairs.iter().copied().chain([("Signature", "x")]);
    assert_eq!(v1_sign_string(method, host, with_signature), s);

    let chosen = V1Method::from_param(Some(signature_method));
    assert_eq!(
        chosen == V1Method::HmacSha256,
        signature_method == "HmacSHA256"
    );
    for (m, other, len) in [
        (V1Method::HmacSha1, V1Method::HmacSha256, 20),
        (V1Method::HmacSha256, V1Method::HmacSha1, 32),
    ] {
        let sig = v1_signature(key, &s, m);
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&sig)
            .expect("base64");
        assert_eq!(raw.len(), len);
        assert!(v1_verify(key, &s, m, &sig));
        assert!(!v1_verify(key, &s, other, &sig));
        assert!(!v1_verify(&format!("{key}x"), &s, m, &sig));
        assert!(!v1_verify(key, &format!("{s}x"), m, &sig));
    }
}
