//! TC3-HMAC-SHA256 (`scf_types::sign`): the `Authorization` parser, the canonical request and
//! the verifier.
//!
//! The first byte of the input picks the part; the rest is text (invalid UTF-8 replaced):
//! * even: an `Authorization` header. Whatever parses has well-formed parts (a non-empty
//!   SecretId, a 10-byte date, SignedHeaders of lower-case names, a 64-digit hex signature),
//!   and renders back to a header that parses to the same parts, whatever the spaces after
//!   its commas.
//! * odd: `\0`-separated fields: method, query, SignedHeaders, payload hash, timestamp, date,
//!   service, secret key, then header name and value pairs. The canonical request reads back
//!   into exactly those fields when none holds a newline (so no two requests share one), the
//!   string to sign is the reference's, the signature the signer makes verifies (header values
//!   as sent and lower-cased), and another key, a changed digit or a cut signature do not.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scf_types::sign::{self, Tc3Authorization, Tc3Request, parse_tc3_authorization, sha256_hex};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    if mode % 2 == 0 {
        authorization(&text);
    } else {
        request(&text.split('\0').collect::<Vec<_>>());
    }
});

fn render(a: &Tc3Authorization<'_>, sep: &str) -> String {
    format!(
        "{} Credential={}/{}/{}/tc3_request,{sep}SignedHeaders={},{sep}Signature={}",
        sign::TC3_ALGORITHM,
        a.secret_id,
        a.date,
        a.service,
        a.signed_headers,
        a.signature
    )
}

fn authorization(header: &str) {
    let Some(a) = parse_tc3_authorization(header) else {
        return;
    };
    assert!(!a.secret_id.is_empty(), "{header:?}");
    assert_eq!(a.date.len(), 10, "{header:?}");
    assert!(
        a.signature.len() == 64 && a.signature.bytes().all(|b| b.is_ascii_hexdigit()),
        "{header:?}"
    );
    assert!(
        a.signed_headers.split(';').all(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        }),
        "{header:?}"
    );
    for sep in [" ", "", "   "] {
        let again = render(&a, sep);
        assert_eq!(
            parse_tc3_authorization(&again).as_ref(),
            Some(&a),
            "{header:?} rendered as {again:?}"
        );
    }
}

fn request(fields: &[&str]) {
    let [
        method,
        query,
        signed_headers,
        payload_hash,
        timestamp,
        date,
        service,
        key,
        pairs @ ..,
    ] = fields
    else {
        return;
    };
    let headers: Vec<(String, String)> = pairs
        .chunks_exact(2)
        .map(|p| (p[0].to_string(), p[1].to_string()))
        .collect();
    let req = Tc3Request {
        method,
        query,
        headers: &headers,
        signed_headers,
        payload_hash,
        timestamp,
        date,
        service,
    };
    let one_line = |s: &str| !s.contains('\n');
    let readable = [*method, query, signed_headers, payload_hash]
        .iter()
        .all(|s| one_line(s))
        && headers
            .iter()
            .all(|(n, v)| one_line(n) && !n.contains(':') && one_line(v.trim()));
    for lower in [false, true] {
        let canonical = req.canonical_request(lower);
        if readable {
            read_back(&req, lower, &canonical);
        }
        assert_eq!(
            req.string_to_sign(&canonical),
            format!(
                "TC3-HMAC-SHA256\n{timestamp}\n{date}/{service}/tc3_request\n{}",
                sha256_hex(canonical.as_bytes())
            )
        );
        let signature = req.signature(key, lower);
        assert!(
            signature.len() == 64
                && signature
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{signature}"
        );
        assert!(req.verify(key, &signature), "lower={lower} {req:?}");
        assert!(!req.verify(&format!("{key}x"), &signature));
        assert!(!req.verify(key, &signature[..63]));
        for at in [0, 31, 63] {
            let mut changed = signature.clone().into_bytes();
            changed[at] = if changed[at] == b'0' { b'1' } else { b'0' };
            let changed = String::from_utf8(changed).expect("hex is ASCII");
            assert!(!req.verify(key, &changed));
        }
    }
    let all_lower = headers
        .iter()
        .all(|(_, v)| v.trim() == v.trim().to_ascii_lowercase());
    if all_lower {
        assert_eq!(req.signature(key, true), req.signature(key, false));
    }
}

/// Parses the canonical request back into its parts and compares them with the request's.
fn read_back(req: &Tc3Request<'_>, lower: bool, canonical: &str) {
    let lines: Vec<&str> = canonical.split('\n').collect();
    let n = req.headers.len();
    assert_eq!(lines.len(), n + 6, "{canonical:?}");
    assert_eq!(lines[0], req.method);
    assert_eq!(lines[1], "/");
    assert_eq!(lines[2], req.query);
    for (line, (name, value)) in lines[3..3 + n].iter().zip(req.headers) {
        let (got_name, got_value) = line.split_once(':').expect("name:value");
        assert_eq!(got_name, name);
        let want = if lower {
            value.trim().to_ascii_lowercase()
        } else {
            value.trim().to_string()
        };
        assert_eq!(got_value, want);
    }
    assert_eq!(lines[3 + n], "");
    assert_eq!(lines[4 + n], req.signed_headers);
    assert_eq!(lines[5 + n], req.payload_hash);
}
