//! A JWK Set (RFC 7517 §5) as the keys that may sign bearer JWTs: RSA
//! (`n`, `e`), EC P-256 and P-384 (`x`, `y`, full length), and Ed25519
//! (`x`), and the signature check with each (ring's). A key we cannot use (another `kty` or curve, a missing or
//! malformed member, `use` other than `sig`, `key_ops` without `verify`)
//! is skipped, not fatal, as RFC 7517 §5 asks; a set with too many keys,
//! too many bytes, or no `keys` array is refused whole.

use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::Value;

use super::alg::{Alg, Family};
use crate::base64;
use crate::limits::{MAX_JWKS_BYTES, MAX_JWKS_KEYS};

/// A public key's numbers, as ring takes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum KeyMaterial {
    /// Modulus and exponent, big-endian, without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// An uncompressed point `0x04‖x‖y`.
    Ec { family: Family, point: Vec<u8> },
    /// The 32-byte public key.
    Ed25519(Vec<u8>),
}

impl KeyMaterial {
    /// Whether `signature` is `alg`'s over `message` by this key (ring
    /// checks it). ECDSA signatures are JOSE's raw `R‖S`, not DER (RFC 7518
    /// §3.4).
    pub(super) fn verifies(&self, alg: Alg, message: &[u8], signature: &[u8]) -> bool {
        match (alg, self) {
            (_, KeyMaterial::Rsa { n, e }) if alg.family() == Family::Rsa => {
                let params: &signature::RsaParameters = match alg {
                    Alg::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    Alg::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    Alg::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                    Alg::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
                    Alg::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
                    _ => &signature::RSA_PSS_2048_8192_SHA512,
                };
                RsaPublicKeyComponents { n, e }
                    .verify(params, message, signature)
                    .is_ok()
            }
            (Alg::Es256, KeyMaterial::Ec { family, point }) if *family == Family::P256 => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, signature)
                    .is_ok()
            }
            (Alg::Es384, KeyMaterial::Ec { family, point }) if *family == Family::P384 => {
                UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, point)
                    .verify(message, signature)
                    .is_ok()
            }
            (Alg::EdDsa, KeyMaterial::Ed25519(x)) => UnparsedPublicKey::new(&signature::ED25519, x)
                .verify(message, signature)
                .is_ok(),
            _ => false,
        }
    }

    fn family(&self) -> Family {
        match self {
            KeyMaterial::Rsa { .. } => Family::Rsa,
            KeyMaterial::Ec { family, .. } => *family,
            KeyMaterial::Ed25519(_) => Family::Ed25519,
        }
    }
}

/// One usable key of a set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwk {
    /// Its `kid`, if it has one.
    pub kid: Option<String>,
    /// Its `alg`, if it names one: then only that algorithm may use it.
    alg: Option<String>,
    pub(super) material: KeyMaterial,
}

impl Jwk {
    /// Whether this key may check a token signed with `alg` that names
    /// key `kid` (a token without `kid` may be checked by any key that
    /// fits otherwise).
    pub(super) fn fits(&self, alg: Alg, kid: Option<&str>) -> bool {
        self.material.family() == alg.family()
            && self.alg.as_deref().is_none_or(|a| a == alg.name())
            && kid.is_none_or(|k| self.kid.as_deref() == Some(k))
    }
}

/// A JWK Set's usable keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySet {
    pub(super) keys: Vec<Jwk>,
    /// Keys of the document that were skipped.
    skipped: usize,
}

/// Why a JWK Set was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySetError {
    /// Over [`MAX_JWKS_BYTES`].
    TooLarge(usize),
    /// Not JSON.
    NotJson(String),
    /// No `keys` array.
    NoKeys,
    /// Over [`MAX_JWKS_KEYS`] keys.
    TooMany(usize),
}

impl std::fmt::Display for KeySetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySetError::TooLarge(n) => {
                write!(
                    f,
                    "the JWK Set is {n} bytes; at most {MAX_JWKS_BYTES} are read"
                )
            }
            KeySetError::NotJson(why) => write!(f, "the JWK Set is not JSON: {why}"),
            KeySetError::NoKeys => f.write_str("the JWK Set has no \"keys\" array"),
            KeySetError::TooMany(n) => {
                write!(
                    f,
                    "the JWK Set has {n} keys; at most {MAX_JWKS_KEYS} are taken"
                )
            }
        }
    }
}

impl std::error::Error for KeySetError {}

impl KeySet {
    /// The usable keys of JWK Set document `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<KeySet, KeySetError> {
        if bytes.len() > MAX_JWKS_BYTES {
            return Err(KeySetError::TooLarge(bytes.len()));
        }
        let doc: Value =
            serde_json::from_slice(bytes).map_err(|e| KeySetError::NotJson(e.to_string()))?;
        let Some(keys) = doc.get("keys").and_then(Value::as_array) else {
            return Err(KeySetError::NoKeys);
        };
        if keys.len() > MAX_JWKS_KEYS {
            return Err(KeySetError::TooMany(keys.len()));
        }
        let usable: Vec<Jwk> = keys.iter().filter_map(jwk).collect();
        Ok(KeySet {
            skipped: keys.len() - usable.len(),
            keys: usable,
        })
    }

    /// How many keys are usable.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is usable.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many keys of the document were skipped as unusable.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// Whether some key has this `kid`.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

/// One key of the document, if we can use it to verify signatures.
fn jwk(key: &Value) -> Option<Jwk> {
    let text = |name: &str| key.get(name).and_then(Value::as_str);
    let bytes = |name: &str| text(name).and_then(base64::decode_url);
    if text("use").is_some_and(|u| u != "sig") {
        return None;
    }
    if let Some(ops) = key.get("key_ops")
        && !ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|o| o == "verify"))
    {
        return None;
    }
    let material = match (text("kty")?, text("crv")) {
        ("RSA", _) => {
            let n = without_leading_zeros(bytes("n")?);
            let e = without_leading_zeros(bytes("e")?);
            if n.is_empty() || e.is_empty() {
                return None;
            }
            KeyMaterial::Rsa { n, e }
        }
        ("EC", Some(curve @ ("P-256" | "P-384"))) => {
            let (family, size) = match curve {
                "P-256" => (Family::P256, 32),
                _ => (Family::P384, 48),
            };
            let (x, y) = (bytes("x")?, bytes("y")?);
            if x.len() != size || y.len() != size {
                return None;
            }
            let mut point = Vec::with_capacity(1 + 2 * size);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            KeyMaterial::Ec { family, point }
        }
        ("OKP", Some("Ed25519")) => {
            let x = bytes("x")?;
            if x.len() != 32 {
                return None;
            }
            KeyMaterial::Ed25519(x)
        }
        _ => return None,
    };
    Some(Jwk {
        kid: text("kid").map(str::to_owned),
        alg: text("alg").map(str::to_owned),
        material,
    })
}

/// Some sets carry a `0x00` before `n`; ring takes the minimal form.
fn without_leading_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usable_keys_are_kept_and_the_rest_skipped() {
        let x32 = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE";
        let x48 = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB";
        let set = serde_json::json!({"keys": [
            {"kty": "RSA", "kid": "r", "n": "AAEC", "e": "AQAB"},
            {"kty": "EC", "crv": "P-256", "kid": "p256", "x": x32, "y": x32},
            {"kty": "EC", "crv": "P-384", "x": x48, "y": x48, "alg": "ES384"},
            {"kty": "OKP", "crv": "Ed25519", "x": x32},
            // Skipped: a short coordinate, another curve, an encryption
            // key, a key not for verifying, an HMAC secret, a bad number.
            {"kty": "EC", "crv": "P-256", "x": "AQ", "y": x32},
            {"kty": "EC", "crv": "P-521", "x": x32, "y": x32},
            {"kty": "RSA", "use": "enc", "n": "AQ", "e": "AQAB"},
            {"kty": "RSA", "key_ops": ["sign"], "n": "AQ", "e": "AQAB"},
            {"kty": "oct", "k": "c2VjcmV0"},
            {"kty": "RSA", "n": "not base64!", "e": "AQAB"},
        ]});
        let keys = KeySet::parse(set.to_string().as_bytes()).unwrap();
        assert_eq!((keys.len(), keys.skipped()), (4, 6));
        assert!(keys.has_kid("p256") && !keys.has_kid("nope"));
        // The leading zero of `n` is dropped.
        assert_eq!(
            keys.keys[0].material,
            KeyMaterial::Rsa {
                n: vec![1, 2],
                e: vec![1, 0, 1]
            }
        );
        // A key fits its own family, its own `alg` and its own `kid` only.
        let p384 = &keys.keys[2];
        assert!(p384.fits(Alg::Es384, None));
        assert!(!p384.fits(Alg::Es256, None));
        assert!(!p384.fits(Alg::Es384, Some("other")));
        assert!(
            !keys.keys[0].fits(Alg::Es256, Some("r")),
            "an RSA key never checks EC"
        );
        assert!(keys.keys[0].fits(Alg::Ps512, Some("r")));
    }

    #[test]
    fn a_set_is_refused_whole_only_when_it_is_not_one() {
        assert_eq!(KeySet::parse(b"{}"), Err(KeySetError::NoKeys));
        assert!(matches!(
            KeySet::parse(b"nope"),
            Err(KeySetError::NotJson(_))
        ));
        let many = serde_json::json!({"keys": vec![serde_json::json!({}); MAX_JWKS_KEYS + 1]});
        assert_eq!(
            KeySet::parse(many.to_string().as_bytes()),
            Err(KeySetError::TooMany(MAX_JWKS_KEYS + 1))
        );
        let big = vec![b' '; MAX_JWKS_BYTES + 1];
        assert!(matches!(KeySet::parse(&big), Err(KeySetError::TooLarge(_))));
        assert_eq!(KeySet::parse(br#"{"keys": []}"#).map(|k| k.len()), Ok(0));
    }
}
