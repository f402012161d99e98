//! Ed25519 signed checkpoints of the audit chain, in a form stock tools
//! check: the signed text is a C2SP signed-note body
//! (`<origin>\n<seq>\n<head>\n`), the signature the bare 64 bytes over it
//! (`openssl pkeyutl -verify -pubin -rawin` takes it as it is), and the key
//! named by `key_id`, the first 8 bytes of SHA-256 of the raw public key,
//! in hex. Keys are PEM as `openssl genpkey -algorithm ed25519` writes them
//! (PKCS#8 v1, which ring reads with `from_pkcs8_maybe_unchecked`) and as
//! `openssl pkey -pubout` writes the public half.

use std::fmt;

use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use serde_json::{Map, Value};

use crate::{base64, sha256};

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410), before
/// the 32-byte key.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Why a key file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// No PEM block with this label.
    NoPem(&'static str),
    /// The block's Base64 does not decode.
    BadBase64,
    /// Not an Ed25519 key of that kind.
    NotEd25519,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::NoPem(label) => write!(f, "no \"-----BEGIN {label}-----\" block"),
            KeyError::BadBase64 => f.write_str("the PEM block is not valid Base64"),
            KeyError::NotEd25519 => f.write_str(
                "not an Ed25519 key (make one with: openssl genpkey -algorithm ed25519)",
            ),
        }
    }
}

impl std::error::Error for KeyError {}

/// The DER inside the first PEM block labelled `label`.
fn pem(text: &str, label: &'static str) -> Result<Vec<u8>, KeyError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin).ok_or(KeyError::NoPem(label))? + begin.len();
    let stop = text[start..].find(&end).ok_or(KeyError::NoPem(label))? + start;
    let body: String = text[start..stop]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::decode(&body).ok_or(KeyError::BadBase64)
}

/// `key_id` of a raw public key: the first 8 bytes of its SHA-256, hex.
pub fn key_id(public: &[u8]) -> String {
    sha256::hex(public)[..16].to_owned()
}

/// The text a checkpoint signs: a C2SP signed-note body.
pub fn signed_text(origin: &str, seq: u64, head: &str) -> String {
    format!("{origin}\n{seq}\n{head}\n")
}

/// The private key that signs checkpoints.
pub struct Signer {
    pair: Ed25519KeyPair,
    key_id: String,
    origin: String,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key.
        write!(f, "Signer({}, {})", self.origin, self.key_id)
    }
}

impl Signer {
    /// The signer of PEM `text` (PKCS#8), for checkpoints of `origin`.
    pub fn from_pem(text: &str, origin: &str) -> Result<Signer, KeyError> {
        let der = pem(text, "PRIVATE KEY")?;
        let pair =
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).map_err(|_| KeyError::NotEd25519)?;
        let key_id = key_id(pair.public_key().as_ref());
        Ok(Signer {
            pair,
            key_id,
            origin: origin.to_owned(),
        })
    }

    /// The fields of a checkpoint over record `seq`, whose line hashes to
    /// `head`.
    pub fn checkpoint(&self, seq: u64, head: &str) -> Map<String, Value> {
        let signed = signed_text(&self.origin, seq, head);
        let signature = self.pair.sign(signed.as_bytes());
        let mut fields = Map::new();
        fields.insert("covers".into(), Value::from(seq));
        fields.insert("head".into(), Value::from(head));
        fields.insert("signed".into(), Value::from(signed));
        fields.insert(
            "signature".into(),
            Value::from(base64::encode(signature.as_ref())),
        );
        fields.insert("key_id".into(), Value::from(self.key_id.as_str()));
        fields
    }
}

/// The public key that checks checkpoints.
#[derive(Debug, Clone)]
pub struct Verifier {
    public: Vec<u8>,
    /// Its `key_id`.
    pub key_id: String,
}

/// Why a checkpoint does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadCheckpoint {
    /// Signed by a key other than the one given.
    OtherKey(String),
    /// Its signed text is not what it claims to cover.
    Mismatch,
    /// The signature does not verify.
    Signature,
}

impl fmt::Display for BadCheckpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadCheckpoint::OtherKey(id) => write!(f, "signed by another key ({id})"),
            BadCheckpoint::Mismatch => f.write_str("its signed text does not match what it covers"),
            BadCheckpoint::Signature => f.write_str("its signature does not verify"),
        }
    }
}

impl Verifier {
    /// The verifier of PEM `text` (SubjectPublicKeyInfo).
    pub fn from_pem(text: &str) -> Result<Verifier, KeyError> {
        let der = pem(text, "PUBLIC KEY")?;
        let public = der
            .strip_prefix(&SPKI_PREFIX[..])
            .filter(|k| k.len() == 32)
            .ok_or(KeyError::NotEd25519)?
            .to_vec();
        let key_id = key_id(&public);
        Ok(Verifier { public, key_id })
    }

    /// Checks a checkpoint record claiming to cover record `seq`, whose
    /// line hashes to `head`, for `origin` (taken from its signed text).
    pub fn check(
        &self,
        record: &Map<String, Value>,
        seq: u64,
        head: &str,
    ) -> Result<(), BadCheckpoint> {
        let text = |k: &str| record.get(k).and_then(Value::as_str).unwrap_or_default();
        if text("key_id") != self.key_id {
            return Err(BadCheckpoint::OtherKey(text("key_id").to_owned()));
        }
        let signed = text("signed");
        let origin = signed.split('\n').next().unwrap_or_default();
        let covers = record.get("covers").and_then(Value::as_u64);
        if signed != signed_text(origin, seq, head) || text("head") != head || covers != Some(seq) {
            return Err(BadCheckpoint::Mismatch);
        }
        let signature = base64::decode(text("signature")).ok_or(BadCheckpoint::Signature)?;
        UnparsedPublicKey::new(&ED25519, &self.public)
            .verify(signed.as_bytes(), &signature)
            .map_err(|_| BadCheckpoint::Signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made by `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout`.
    const PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIDk5cA4MYZGXtF/JpOtyx2liZbxSF/NXm8EJH0FfSubD
-----END PRIVATE KEY-----
";

    #[test]
    fn a_checkpoint_verifies_with_the_public_key_and_nothing_else() {
        let signer = Signer::from_pem(PRIVATE, "argus-mcp").unwrap();
        let public =
            base64::encode(&[&SPKI_PREFIX[..], signer.pair.public_key().as_ref()].concat());
        let verifier = Verifier::from_pem(&format!(
            "-----BEGIN PUBLIC KEY-----\n{public}\n-----END PUBLIC KEY-----\n"
        ))
        .unwrap();
        assert_eq!(verifier.key_id, signer.key_id);
        let head = sha256::hex(b"a record\n");
        let record = signer.checkpoint(7, &head);
        assert_eq!(record["signed"], format!("argus-mcp\n7\n{head}\n"));
        assert_eq!(verifier.check(&record, 7, &head), Ok(()));
        assert_eq!(
            verifier.check(&record, 8, &head),
            Err(BadCheckpoint::Mismatch)
        );
        let other = sha256::hex(b"another\n");
        assert_eq!(
            verifier.check(&record, 7, &other),
            Err(BadCheckpoint::Mismatch)
        );
        let mut forged = record.clone();
        forged.insert("signature".into(), Value::from(base64::encode(&[0; 64])));
        assert_eq!(
            verifier.check(&forged, 7, &head),
            Err(BadCheckpoint::Signature)
        );
        let mut stranger = record;
        stranger.insert("key_id".into(), Value::from("00"));
        assert!(matches!(
            verifier.check(&stranger, 7, &head),
            Err(BadCheckpoint::OtherKey(_))
        ));
        assert_eq!(
            Signer::from_pem("nope", "o").unwrap_err(),
            KeyError::NoPem("PRIVATE KEY")
        );
    }
}
