//! Signed stream names: `NAME?sign=EXPIRES-HEX`, where EXPIRES is Unix seconds and HEX the
//! lowercase hex of HMAC-SHA256(secret, "/APP/NAME-EXPIRES"). Any backend that knows the
//! secret can mint them (the README shows how); the gateway checks them when an
//! application's publish or play is "signed". The query never becomes part of the name.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a signed name was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SignError {
    #[error("the name carries no sign= argument")]
    Missing,
    #[error("the sign= argument is not EXPIRES-HEX")]
    Malformed,
    #[error("the signature expired at {0} (Unix time)")]
    Expired(u64),
    #[error("the signature does not match")]
    Wrong,
}

/// The wall clock in Unix seconds, which signed names carry their expiry in.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The `sign=` value for `name` in `app`, valid until `expires` (Unix seconds).
pub fn sign(secret: &str, app: &str, name: &str, expires: u64) -> String {
    let mac = mac(secret, app, name, expires).finalize().into_bytes();
    format!("{expires}-{}", hex::encode(mac))
}

/// Checks the `sign=` argument of `query` (a name's query string) for `name` in `app` at
/// `now` (Unix seconds).
pub fn verify(
    secret: &str,
    app: &str,
    name: &str,
    query: Option<&str>,
    now: u64,
) -> Result<(), SignError> {
    let value = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("sign="))
        .ok_or(SignError::Missing)?;
    let (expires, digest) = value.split_once('-').ok_or(SignError::Malformed)?;
    // Only plain digits: no sign, no spaces, no leading '+'.
    if expires.is_empty() || !expires.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignError::Malformed);
    }
    let expires: u64 = expires.parse().map_err(|_| SignError::Malformed)?;
    let is_lower_hex = digest.len() == 64
        && digest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !is_lower_hex {
        return Err(SignError::Malformed);
    }
    let digest = hex::decode(digest).map_err(|_| SignError::Malformed)?;
    if expires < now {
        return Err(SignError::Expired(expires));
    }
    // Compared in constant time.
    mac(secret, app, name, expires)
        .verify_slice(&digest)
        .map_err(|_| SignError::Wrong)
}

fn mac(secret: &str, app: &str, name: &str, expires: u64) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(format!("/{app}/{name}-{expires}").as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readmes_openssl_recipe_gives_the_same_signature() {
        // printf '/live/cam-2000000000' | openssl dgst -sha256 -hmac secret -r
        assert_eq!(
            sign("secret", "live", "cam", 2_000_000_000),
            "2000000000-5cd39dd86a67ca39266a42e6eecee3eb4b7bbc0534f1dfa30868b8550ffdfe2a"
        );
    }

    #[test]
    fn a_fresh_signature_is_accepted_with_other_arguments_around_it() {
        let value = sign("k", "live", "cam", 1000);
        let query = format!("user=7&sign={value}&x=1");
        assert_eq!(verify("k", "live", "cam", Some(&query), 999), Ok(()));
        assert_eq!(verify("k", "live", "cam", Some(&query), 1000), Ok(()));
    }

    #[test]
    fn expired_wrong_and_malformed_signatures_are_refused() {
        let value = sign("k", "live", "cam", 1000);
        let q = format!("sign={value}");
        assert_eq!(
            verify("k", "live", "cam", Some(&q), 1001),
            Err(SignError::Expired(1000))
        );
        for (secret, app, name) in [
            ("other", "live", "cam"),
            ("k", "vod", "cam"),
            ("k", "live", "cam2"),
        ] {
            assert_eq!(
                verify(secret, app, name, Some(&q), 0),
                Err(SignError::Wrong),
                "{secret} {app} {name}"
            );
        }
        assert_eq!(verify("k", "live", "cam", None, 0), Err(SignError::Missing));
        assert_eq!(
            verify("k", "live", "cam", Some("x=1"), 0),
            Err(SignError::Missing)
        );
        let upper = q.to_uppercase().replace("SIGN=", "sign=");
        for bad in [
            "sign=".to_owned(),
            "sign=1000".to_owned(),
            "sign=-abc".to_owned(),
            "sign=+1000-".to_owned() + &"a".repeat(64),
            "sign=1000-".to_owned() + &"a".repeat(63),
            "sign=1000-".to_owned() + &"g".repeat(64),
            "sign=99999999999999999999999-".to_owned() + &"a".repeat(64),
            upper,
        ] {
            assert_eq!(
                verify("k", "live", "cam", Some(&bad), 0),
                Err(SignError::Malformed),
                "{bad}"
            );
        }
    }
}
