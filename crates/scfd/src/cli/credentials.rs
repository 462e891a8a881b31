//! Where the endpoint, the key and the region come from, first found wins, field by field:
//!
//! 1. the flags (`--endpoint`, `--secret-id`, `--secret-key`, `--region`);
//! 2. the environment variables of Tencent's own tools (`TENCENTCLOUD_SECRET_ID`,
//!    `TENCENTCLOUD_SECRET_KEY`, `TENCENTCLOUD_REGION`) and `SCFD_ENDPOINT`;
//! 3. the profile file, `$SCFD_PROFILE` or `~/.scfd/profile.toml` (`scfd configure` writes it);
//! 4. for the key only, and only when neither half was found: `./scfd-data/account.toml`, the
//!    account a server started in this folder generated, so that `scfd serve` then `scfd invoke`
//!    on one laptop needs no setup;
//! 5. defaults: `http://127.0.0.1:9000`, `ap-guangzhou`.
//!
//! The CA bundle for an https endpoint follows the same order (`--ca-bundle`, `SCFD_CA_BUNDLE`,
//! the profile's `ca_bundle`), then the standard `SSL_CERT_FILE` last: that one is set for all
//! tools alike and must not override what was set for scfd; with none, the built-in roots.

use super::{CliError, Connection};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:9000";
pub const DEFAULT_REGION: &str = "ap-guangzhou";
/// The account file `scfd serve` writes into its default data dir.
pub const LOCAL_ACCOUNT_FILE: &str = "scfd-data/account.toml";

/// Everything a call needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub endpoint: String,
    pub secret_id: String,
    pub secret_key: String,
    pub region: String,
    /// A PEM file of the CAs to trust instead of the built-in roots (read for https only).
    pub ca_bundle: Option<String>,
}

/// The profile file: every key optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<String>,
}

/// Resolves the settings. `env` reads a variable; `local_account` is asked for the laptop
/// fallback only when no source named either half of the key.
pub fn resolve(
    flags: &Connection,
    env: impl Fn(&str) -> Option<String>,
    profile: &Profile,
    profile_path: &Path,
    local_account: impl FnOnce() -> Option<(String, String)>,
) -> Result<Settings, CliError> {
    let given = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
    let env = |name: &str| env(name).filter(|s| !s.trim().is_empty());
    let endpoint = given(&flags.endpoint)
        .or_else(|| env("SCFD_ENDPOINT"))
        .or_else(|| given(&profile.endpoint))
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
    let region = given(&flags.region)
        .or_else(|| env("TENCENTCLOUD_REGION"))
        .or_else(|| given(&profile.region))
        .unwrap_or_else(|| DEFAULT_REGION.to_string());
    let secret_id = given(&flags.secret_id)
        .or_else(|| env("TENCENTCLOUD_SECRET_ID"))
        .or_else(|| given(&profile.secret_id));
    let secret_key = given(&flags.secret_key)
        .or_else(|| env("TENCENTCLOUD_SECRET_KEY"))
        .or_else(|| given(&profile.secret_key));
    let ca_bundle = given(&flags.ca_bundle)
        .or_else(|| env("SCFD_CA_BUNDLE"))
        .or_else(|| given(&profile.ca_bundle))
        .or_else(|| env("SSL_CERT_FILE"));
    let (secret_id, secret_key) = match (secret_id, secret_key) {
        (Some(id), Some(key)) => (id, key),
        (None, None) => local_account().ok_or_else(|| no_credentials(None, profile_path))?,
        (None, Some(_)) => return Err(no_credentials(Some("SecretId"), profile_path)),
        (Some(_), None) => return Err(no_credentials(Some("SecretKey"), profile_path)),
    };
    Ok(Settings {
        endpoint,
        secret_id,
        secret_key,
        region,
        ca_bundle,
    })
}

fn no_credentials(missing: Option<&str>, profile_path: &Path) -> CliError {
    let what = match missing {
        Some(half) => format!("a SecretKey/SecretId pair is needed but the {half} is missing"),
        None => "no credentials".to_string(),
    };
    CliError::Usage(format!(
        "{what}: give --secret-id and --secret-key, or set TENCENTCLOUD_SECRET_ID and \
         TENCENTCLOUD_SECRET_KEY, or write them to {} (`scfd configure --secret-id ID \
         --secret-key KEY`). `scfd serve` prints the pair it generated on its first start and \
         keeps it in DATA_DIR/account.toml; run from the folder holding ./{LOCAL_ACCOUNT_FILE} \
         and it is found there.",
        profile_path.display()
    ))
}

/// `$SCFD_PROFILE`, else `~/.scfd/profile.toml`.
pub fn profile_path(env: impl Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(p) = env("SCFD_PROFILE").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let home = env("HOME").filter(|h| !h.is_empty()).unwrap_or_default();
    Path::new(&home).join(".scfd").join("profile.toml")
}

/// The profile at `path`; none there is an empty one.
pub fn load_profile(path: &Path) -> Result<Profile, CliError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            toml::from_str(&text).map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Profile::default()),
        Err(e) => Err(CliError::Usage(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// Writes the profile readable by its owner only (it holds a secret key).
pub fn save_profile(path: &Path, profile: &Profile) -> Result<(), CliError> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    let fail =
        |e: std::io::Error| CliError::Failed(format!("cannot write {}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(fail)?;
    }
    let text = toml::to_string(profile)
        .map_err(|e| CliError::Failed(format!("cannot encode the profile: {e}")))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    // An existing file keeps its mode through open(); tighten it as well.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(fail)?;
    file.write_all(text.as_bytes()).map_err(fail)
}

#[derive(Deserialize)]
struct AccountFile {
    accounts: Vec<AccountKey>,
}

#[derive(Deserialize)]
struct AccountKey {
    secret_id: String,
    secret_key: String,
}

/// The first key of a server's `account.toml`, if the file is there and readable.
pub fn local_account(path: &Path) -> Option<(String, String)> {
    let text = std::fs::read_to_string(path).ok()?;
    let file: AccountFile = toml::from_str(&text).ok()?;
    let first = file.accounts.into_iter().next()?;
    Some((first.secret_id, first.secret_key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn flags(id: Option<&str>, key: Option<&str>, endpoint: Option<&str>) -> Connection {
        Connection {
            endpoint: endpoint.map(String::from),
            secret_id: id.map(String::from),
            secret_key: key.map(String::from),
            region: None,
            ca_bundle: None,
        }
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn profile() -> Profile {
        Profile {
            endpoint: Some("http://profile:1".into()),
            secret_id: Some("AKIDprofile".into()),
            secret_key: Some("profilekey".into()),
            region: Some("ap-profile".into()),
            ca_bundle: Some("/profile/ca.pem".into()),
        }
    }

    const ENV: &[(&str, &str)] = &[
        ("TENCENTCLOUD_SECRET_ID", "AKIDenv"),
        ("TENCENTCLOUD_SECRET_KEY", "envkey"),
        ("TENCENTCLOUD_REGION", "ap-env"),
        ("SCFD_ENDPOINT", "http://env:2"),
    ];

    fn never() -> Option<(String, String)> {
        panic!("the local account file must not be read when a key was found")
    }

    #[test]
    fn flags_win_over_environment_over_profile() {
        let p = Path::new("/p");
        let s = resolve(
            &Connection {
                region: Some("ap-flag".into()),
                ..flags(Some("AKIDflag"), Some("flagkey"), Some("http://flag:3"))
            },
            env_of(ENV),
            &profile(),
            p,
            never,
        )
        .expect("resolves");
        assert_eq!(
            s,
            Settings {
                endpoint: "http://flag:3".into(),
                secret_id: "AKIDflag".into(),
                secret_key: "flagkey".into(),
                region: "ap-flag".into(),
                ca_bundle: Some("/profile/ca.pem".into()),
            }
        );
        let s =
            resolve(&flags(None, None, None), env_of(ENV), &profile(), p, never).expect("resolves");
        assert_eq!(
            (
                s.endpoint.as_str(),
                s.secret_id.as_str(),
                s.secret_key.as_str()
            ),
            ("http://env:2", "AKIDenv", "envkey")
        );
        assert_eq!(s.region, "ap-env");
        let s =
            resolve(&flags(None, None, None), env_of(&[]), &profile(), p, never).expect("resolves");
        assert_eq!(s.secret_id, "AKIDprofile");
        assert_eq!(s.endpoint, "http://profile:1");
        assert_eq!(s.region, "ap-profile");
    }

    #[test]
    fn field_by_field_and_empty_values_do_not_count() {
        let s = resolve(
            &flags(None, None, Some("")),
            env_of(&[
                ("TENCENTCLOUD_SECRET_ID", ""),
                ("TENCENTCLOUD_REGION", "ap-env"),
            ]),
            &profile(),
            Path::new("/p"),
            never,
        )
        .expect("resolves");
        assert_eq!(s.endpoint, "http://profile:1");
        assert_eq!(s.secret_id, "AKIDprofile");
        assert_eq!(s.region, "ap-env");
    }

    #[test]
    fn the_ca_bundle_takes_ssl_cert_file_last() {
        let bundle = |flag: Option<&str>, env: &[(&str, &str)], profile: &Profile| {
            let flags = Connection {
                ca_bundle: flag.map(String::from),
                ..flags(Some("AKIDflag"), Some("flagkey"), None)
            };
            resolve(&flags, env_of(env), profile, Path::new("/p"), never)
                .expect("resolves")
                .ca_bundle
        };
        let both = [
            ("SCFD_CA_BUNDLE", "/env/scfd.pem"),
            ("SSL_CERT_FILE", "/env/ssl.pem"),
        ];
        let profile = profile();
        let none = Profile::default();
        assert_eq!(
            bundle(Some("/flag.pem"), &both, &profile).as_deref(),
            Some("/flag.pem")
        );
        assert_eq!(
            bundle(None, &both, &profile).as_deref(),
            Some("/env/scfd.pem")
        );
        assert_eq!(
            bundle(None, &both[1..], &profile).as_deref(),
            Some("/profile/ca.pem")
        );
        assert_eq!(
            bundle(None, &both[1..], &none).as_deref(),
            Some("/env/ssl.pem")
        );
        assert_eq!(bundle(None, &[], &none), None);
    }

    #[test]
    fn defaults_and_the_local_account_fallback() {
        let s = resolve(
            &flags(None, None, None),
            env_of(&[]),
            &Profile::default(),
            Path::new("/p"),
            || Some(("AKIDlocal".into(), "localkey".into())),
        )
        .expect("resolves");
        assert_eq!(s.endpoint, DEFAULT_ENDPOINT);
        assert_eq!(s.region, DEFAULT_REGION);
        assert_eq!(s.secret_id, "AKIDlocal");
        assert_eq!(s.secret_key, "localkey");
    }

    #[test]
    fn missing_credentials_say_how_to_give_them() {
        let err = resolve(
            &flags(None, None, None),
            env_of(&[]),
            &Profile::default(),
            Path::new("/home/u/.scfd/profile.toml"),
            || None,
        )
        .expect_err("no key anywhere");
        let text = err.to_string();
        for needle in [
            "--secret-id",
            "TENCENTCLOUD_SECRET_ID",
            "/home/u/.scfd/profile.toml",
            "scfd configure",
        ] {
            assert!(text.contains(needle), "{needle} missing from: {text}");
        }
        assert_eq!(err.exit_code(), 2);
        // Half a key is an error, not a reason to take another source's other half.
        let err = resolve(
            &flags(Some("AKIDflag"), None, None),
            env_of(&[]),
            &Profile::default(),
            Path::new("/p"),
            never,
        )
        .expect_err("half a key");
        assert!(err.to_string().contains("SecretKey is missing"), "{err}");
    }

    #[test]
    fn profile_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("profile.toml");
        assert_eq!(load_profile(&path).expect("absent"), Profile::default());
        save_profile(&path, &profile()).expect("written");
        assert_eq!(load_profile(&path).expect("read back"), profile());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(&path, "bogus = 1").expect("write");
        assert!(matches!(load_profile(&path), Err(CliError::Usage(_))));
        assert_eq!(
            profile_path(env_of(&[("HOME", "/home/u")])),
            PathBuf::from("/home/u/.scfd/profile.toml")
        );
        assert_eq!(
            profile_path(env_of(&[
                ("HOME", "/home/u"),
                ("SCFD_PROFILE", "/etc/p.toml")
            ])),
            PathBuf::from("/etc/p.toml")
        );
    }

    #[test]
    fn reads_the_servers_account_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("account.toml");
        assert_eq!(local_account(&path), None);
        std::fs::write(
            &path,
            "[[accounts]]\nsecret_id = \"AKIDgen\"\nsecret_key = \"genkey\"\napp_id = 1250000000\nuin = \"100000000001\"\n",
        )
        .expect("write");
        assert_eq!(
            local_account(&path),
            Some(("AKIDgen".to_string(), "genkey".to_string()))
        );
    }
}
