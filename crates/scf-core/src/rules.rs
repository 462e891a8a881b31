//! The validation rules SCF applies to names and function settings, each with its exact code.

use scf_types::{ApiError, ErrorCode};

fn bad(code: ErrorCode, message: impl Into<String>) -> ApiError {
    ApiError::new(code, message)
}

/// Runtimes SCF lists (reference §5 CreateFunction, plus the newer names of the runtime issue).
/// Which of them this machine can actually run is the engine's business.
pub const RUNTIMES: &[&str] = &[
    "Python2.7",
    "Python3.6",
    "Python3.7",
    "Python3.8",
    "Python3.9",
    "Python3.10",
    "Python3.11",
    "Python3.12",
    "Nodejs6.10",
    "Nodejs8.9",
    "Nodejs10.15",
    "Nodejs12.16",
    "Nodejs14.18",
    "Nodejs16.13",
    "Nodejs18.15",
    "Nodejs20.x",
    "Php5.6",
    "Php7",
    "Php7.4",
    "Php8.0",
    "Go1",
    "Java8",
    "Java11",
    "CustomRuntime",
];

/// Environment variable names the platform sets itself (reference §8.3); users may not set them.
const RESERVED_ENV: &[&str] = &[
    "SCF_FUNCTIONNAME",
    "SCF_FUNCTIONVERSION",
    "SCF_NAMESPACE",
    "SCF_RUNTIME",
    "SCF_MEMORY_SIZE",
    "SCF_TIMEOUT",
    "SCF_RUNTIME_API",
    "SCF_RUNTIME_API_PORT",
    "SCF_CODE_ROOT",
    "SCF_HANDLER",
    "TENCENTCLOUD_REGION",
    "TENCENTCLOUD_APPID",
    "TENCENTCLOUD_UIN",
    "TENCENTCLOUD_TZ",
    "TENCENTCLOUD_SECRETID",
    "TENCENTCLOUD_SECRETKEY",
    "TENCENTCLOUD_SESSIONTOKEN",
    "TENCENTCLOUD_RUNENV",
    "USER_CODE_ROOT",
    "_HANDLER",
    "PYTHONPATH",
    "NODE_PATH",
    "PATH",
    "LD_LIBRARY_PATH",
    // Tunes glibc in every process that starts with it (the loader reads it before main).
    "GLIBC_TUNABLES",
    "LANG",
    "TZ",
    "HOME",
];

/// Reserved prefixes: anything SCF might add later under them is the platform's too. `LD_`:
/// the dynamic loader's variables (`LD_PRELOAD`, `LD_AUDIT`, ...) load code into a process
/// before its own; the sandbox applies a function's environment only to the runtime, as the
/// sandbox user, but the loader is the platform's to configure, not the tenant's.
const RESERVED_ENV_PREFIXES: &[&str] = &["SCF_", "TENCENTCLOUD_", "_SCF", "LD_"];

/// SCF's cap on a function's environment (reference §9): the variables as `KEY=VALUE` pairs.
pub const MAX_ENVIRONMENT_BYTES: usize = 4096;

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// SCF's name shape: letters, digits, `-`, `_`; starts with a letter; ends with a letter or
/// digit; `len` characters.
fn name_shape(name: &str, len: std::ops::RangeInclusive<usize>) -> bool {
    len.contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && name.chars().all(is_name_char)
}

/// Function names: the name shape, 2-60 characters.
pub fn function_name(name: &str) -> Result<(), ApiError> {
    if name_shape(name, 2..=60) {
        Ok(())
    } else {
        Err(bad(
            ErrorCode::InvalidParameterValueFunctionName,
            format!(
                "FunctionName `{name}` is invalid: use 2-60 letters, digits, `-` or `_`, starting with a letter and ending with a letter or digit."
            ),
        ))
    }
}

/// Names given in a request that must already exist: the same shape as a function name, but a
/// malformed one can only be "not found" (so no existence is leaked and no code differs).
pub fn plausible_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 60 && name.chars().all(is_name_char)
}

/// Namespace names for CreateNamespace: the name shape, 2-30 characters.
pub fn namespace_name(name: &str) -> Result<(), ApiError> {
    if name_shape(name, 2..=30) {
        Ok(())
    } else {
        Err(bad(
            ErrorCode::InvalidParameterValueNamespaceInvalid,
            format!(
                "Namespace `{name}` is invalid: use 2-30 letters, digits, `-` or `_`, starting with a letter and ending with a letter or digit."
            ),
        ))
    }
}

/// Descriptions: at most 1000 characters.
pub fn description(text: &str) -> Result<(), ApiError> {
    if text.chars().count() <= 1000 {
        Ok(())
    } else {
        Err(bad(
            ErrorCode::InvalidParameterValueDescription,
            "Description is longer than 1000 characters.",
        ))
    }
}

fn java_identifier(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// `file.method`: the method a letter or `_` then letters, digits, `_`; the file a relative
/// path of letters, digits, `_`, `-`, `.`, `/` (no `..`); 2-60 characters in all. Java
/// runtimes take `package.Class::method` instead.
pub fn handler(runtime: &str, handler: &str) -> Result<(), ApiError> {
    let valid = (|| {
        if !(2..=60).contains(&handler.len()) {
            return false;
        }
        if runtime.starts_with("Java") {
            let Some((class, method)) = handler.split_once("::") else {
                return false;
            };
            return class.split('.').all(java_identifier) && java_identifier(method);
        }
        let Some((file, method)) = handler.rsplit_once('.') else {
            return false;
        };
        let method_ok = method.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && method
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        let file_ok = !file.is_empty()
            && !file.starts_with('/')
            && !file.split('/').any(|p| p.is_empty() || p == "..")
            && file
                .chars()
                .all(|c| is_name_char(c) || c == '.' || c == '/');
        method_ok && file_ok
    })();
    if valid {
        Ok(())
    } else {
        Err(bad(
            ErrorCode::InvalidParameterValueHandler,
            format!(
                "Handler `{handler}` is invalid: use `file.method`, e.g. `index.main_handler`."
            ),
        ))
    }
}

pub fn runtime(runtime: &str) -> Result<(), ApiError> {
    if RUNTIMES.contains(&runtime) {
        Ok(())
    } else {
        Err(bad(
            ErrorCode::InvalidParameterValueRuntime,
            format!(
                "Runtime `{runtime}` is not an SCF runtime; use one of {}.",
                RUNTIMES.join(", ")
            ),
        ))
    }
}

/// 64, or 128 to 3072 in steps of 128.
pub fn memory_size(mb: i64) -> Result<(), ApiError> {
    if mb == 64 || ((128..=3072).contains(&mb) && mb % 128 == 0) {
        Ok(())
    } else {
        Err(bad(
            ErrorCode::InvalidParameterValueMemorySize,
            format!("MemorySize {mb} is invalid: use 64, or 128 to 3072 in steps of 128."),
        ))
    }
}

/// 1 to 900 seconds.
pub fn timeout(seconds: i64) -> Result<(), ApiError> {
    if (1..=900).contains(&seconds) {
        Ok(())
    } else {
        Err(bad(
            ErrorCode::LimitExceededTimeout,
            format!("Timeout {seconds} is out of range: use 1 to 900 seconds."),
        ))
    }
}

/// 1 to 300 seconds (GetAccount's InitTimeoutLimit).
pub fn init_timeout(seconds: i64) -> Result<(), ApiError> {
    if (1..=300).contains(&seconds) {
        Ok(())
    } else {
        Err(bad(
            ErrorCode::LimitExceededInitTimeout,
            format!("InitTimeout {seconds} is out of range: use 1 to 300 seconds."),
        ))
    }
}

/// `Event` or `HTTP`.
pub fn function_type(kind: &str) -> Result<(), ApiError> {
    if kind == "Event" || kind == "HTTP" {
        Ok(())
    } else {
        Err(bad(
            ErrorCode::InvalidParameterValueType,
            format!("Type `{kind}` is invalid: use `Event` or `HTTP`."),
        ))
    }
}

/// Names that are valid POSIX variable names, none reserved, no duplicates, 4 KB in all.
pub fn environment(vars: &[(String, String)]) -> Result<(), ApiError> {
    let mut total = 0;
    for (i, (key, value)) in vars.iter().enumerate() {
        let valid = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !value.contains('\0');
        if !valid {
            return Err(bad(
                ErrorCode::InvalidParameterValueEnvironment,
                format!(
                    "Environment variable `{key}` is invalid: names are letters, digits and `_`, not starting with a digit, and not empty."
                ),
            ));
        }
        if RESERVED_ENV.contains(&key.as_str())
            || RESERVED_ENV_PREFIXES.iter().any(|p| key.starts_with(p))
        {
            return Err(bad(
                ErrorCode::InvalidParameterValueEnvironmentSystemProtect,
                format!(
                    "Environment variable `{key}` is set by the platform and cannot be changed."
                ),
            ));
        }
        if vars[..i].iter().any(|(k, _)| k == key) {
            return Err(bad(
                ErrorCode::InvalidParameterValueEnvironment,
                format!("Environment variable `{key}` is given twice."),
            ));
        }
        total += key.len() + value.len() + 1;
    }
    if total > MAX_ENVIRONMENT_BYTES {
        return Err(bad(
            ErrorCode::InvalidParameterValueEnvironmentExceededLimit,
            format!("Environment variables take {total} bytes; keep them within 4 KB."),
        ));
    }
    Ok(())
}

/// `Publish=TRUE` (UpdateFunctionCode, UpdateFunctionConfiguration) asks for a version to be
/// published with the update. Not done yet, and silently not publishing would mislead the
/// caller: refused, pointing at PublishVersion.
pub fn refuse_publish(publish: Option<&str>) -> Result<(), ApiError> {
    if publish.is_some_and(|p| p.eq_ignore_ascii_case("TRUE")) {
        return Err(bad(
            ErrorCode::UnsupportedOperation,
            "Publish=TRUE is not supported yet: update, then publish the version with PublishVersion.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: Result<(), ApiError>) -> Option<ErrorCode> {
        r.err().map(|e| e.code)
    }

    #[test]
    fn function_names() {
        for ok in ["ab", "hello", "a-b_c1", &"a".repeat(60)] {
            assert_eq!(code(function_name(ok)), None, "{ok}");
        }
        for badname in [
            "a",
            "1abc",
            "abc-",
            "abc_",
            "a.b",
            "héllo",
            "",
            &"a".repeat(61),
            "-ab",
        ] {
            assert_eq!(
                code(function_name(badname)),
                Some(ErrorCode::InvalidParameterValueFunctionName),
                "{badname}"
            );
        }
    }

    #[test]
    fn namespace_names() {
        for ok in ["ns", "team-a_1", &"n".repeat(30)] {
            assert_eq!(code(namespace_name(ok)), None, "{ok}");
        }
        for badname in ["n", "1ns", "ns-", "n s", &"n".repeat(31), ""] {
            assert_eq!(
                code(namespace_name(badname)),
                Some(ErrorCode::InvalidParameterValueNamespaceInvalid),
                "{badname}"
            );
        }
    }

    #[test]
    fn handlers() {
        for ok in [
            "index.main_handler",
            "src/app.handler",
            "my-file.run",
            "a.b",
            "app.v2.main",
        ] {
            assert_eq!(code(handler("Python3.9", ok)), None, "{ok}");
        }
        assert_eq!(code(handler("Java8", "example.Hello::mainHandler")), None);
        for (runtime, badh) in [
            ("Java8", "index.main_handler"),
            ("Java8", "example.1Hello::main"),
            ("Python3.9", "example.Hello::mainHandler"),
        ] {
            assert_eq!(
                code(handler(runtime, badh)),
                Some(ErrorCode::InvalidParameterValueHandler),
                "{runtime} {badh}"
            );
        }
        for badh in [
            "index",
            ".main",
            "index.",
            "../x.main",
            "/abs.main",
            "a//b.main",
            "index.1main",
            "index.ma-in",
            "x",
        ] {
            assert_eq!(
                code(handler("Nodejs16.13", badh)),
                Some(ErrorCode::InvalidParameterValueHandler),
                "{badh}"
            );
        }
    }

    #[test]
    fn numbers() {
        for ok in [64, 128, 256, 3072] {
            assert_eq!(code(memory_size(ok)), None);
        }
        for badm in [0, 63, 100, 129, 3200, 4096, -128] {
            assert_eq!(
                code(memory_size(badm)),
                Some(ErrorCode::InvalidParameterValueMemorySize),
                "{badm}"
            );
        }
        assert_eq!(code(timeout(1)), None);
        assert_eq!(code(timeout(900)), None);
        assert_eq!(code(timeout(0)), Some(ErrorCode::LimitExceededTimeout));
        assert_eq!(code(timeout(901)), Some(ErrorCode::LimitExceededTimeout));
        assert_eq!(
            code(init_timeout(301)),
            Some(ErrorCode::LimitExceededInitTimeout)
        );
        assert_eq!(code(runtime("Python3.9")), None);
        assert_eq!(
            code(runtime("Cobol1")),
            Some(ErrorCode::InvalidParameterValueRuntime)
        );
        assert_eq!(code(function_type("Event")), None);
        assert_eq!(
            code(function_type("Job")),
            Some(ErrorCode::InvalidParameterValueType)
        );
        assert_eq!(code(description(&"d".repeat(1000))), None);
        assert_eq!(
            code(description(&"d".repeat(1001))),
            Some(ErrorCode::InvalidParameterValueDescription)
        );
    }

    #[test]
    fn environments() {
        let v = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(code(environment(&v(&[("A", "1"), ("_B2", "")]))), None);
        for reserved in [
            "SCF_RUNTIME",
            "TENCENTCLOUD_REGION",
            "_HANDLER",
            "SCF_ANYTHING",
            "PYTHONPATH",
            "LD_PRELOAD",
            "LD_AUDIT",
            "LD_BIND_NOW",
            "GLIBC_TUNABLES",
        ] {
            assert_eq!(
                code(environment(&v(&[(reserved, "x")]))),
                Some(ErrorCode::InvalidParameterValueEnvironmentSystemProtect),
                "{reserved}"
            );
        }
        for invalid in ["", "1A", "A-B", "A B"] {
            assert_eq!(
                code(environment(&v(&[(invalid, "x")]))),
                Some(ErrorCode::InvalidParameterValueEnvironment),
                "{invalid}"
            );
        }
        assert_eq!(
            code(environment(&v(&[("A", "1"), ("A", "2")]))),
            Some(ErrorCode::InvalidParameterValueEnvironment)
        );
        let big = "x".repeat(4000);
        assert_eq!(
            code(environment(&v(&[
                ("A", &big),
                ("B", "y".repeat(200).as_str())
            ]))),
            Some(ErrorCode::InvalidParameterValueEnvironmentExceededLimit)
        );
    }
}
