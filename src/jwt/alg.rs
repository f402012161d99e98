//! The JWS algorithms a bearer JWT may be signed with (RFC 7518 §3.3–3.5,
//! RFC 8037 §3.1), and the key family each needs.
//! `none` and the HMAC algorithms are never accepted: with them, anyone
//! holding the configuration (or, by key confusion, a public key) could
//! mint tokens (RFC 8725 §2.1).

/// A JWS algorithm we verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256 (salt as long as the hash).
    Ps256,
    /// RSASSA-PSS with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512.
    Ps512,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// ECDSA on P-384 with SHA-384.
    Es384,
    /// Ed25519.
    EdDsa,
}

/// The kind of key an algorithm needs: the key, never the token, fixes
/// the family (no key confusion).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `kty: RSA`.
    Rsa,
    /// `kty: EC`, `crv: P-256`.
    P256,
    /// `kty: EC`, `crv: P-384`.
    P384,
    /// `kty: OKP`, `crv: Ed25519`.
    Ed25519,
}

/// Every algorithm, in the order their names are listed to users.
pub const ALL: [Alg; 9] = [
    Alg::Rs256,
    Alg::Rs384,
    Alg::Rs512,
    Alg::Ps256,
    Alg::Ps384,
    Alg::Ps512,
    Alg::Es256,
    Alg::Es384,
    Alg::EdDsa,
];

/// The algorithms taken when the config names none (the original's).
pub const DEFAULT: [Alg; 2] = [Alg::Rs256, Alg::Es256];

/// Why an algorithm name is not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlgError {
    /// `none` or an HMAC algorithm: never.
    Refused(String),
    /// A name we do not know (or cannot verify, such as ES512).
    Unknown(String),
}

impl std::fmt::Display for AlgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AlgError::Refused(name) => write!(
                f,
                "\"{name}\" is refused: with `none` or an HMAC algorithm anyone who has the configuration, or a public key, can make tokens; use {}",
                names()
            ),
            AlgError::Unknown(name) => {
                write!(
                    f,
                    "unknown JWS algorithm \"{name}\" (expected one of {})",
                    names()
                )
            }
        }
    }
}

impl std::error::Error for AlgError {}

/// The names we take, for messages.
fn names() -> String {
    ALL.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ")
}

impl Alg {
    /// The algorithm a JOSE `alg` names. `Ed25519` (RFC 9864's name) is
    /// `EdDSA` over an Ed25519 key.
    pub fn parse(name: &str) -> Result<Alg, AlgError> {
        if name.eq_ignore_ascii_case("none") || name.to_ascii_uppercase().starts_with("HS") {
            return Err(AlgError::Refused(name.to_owned()));
        }
        if name == "Ed25519" {
            return Ok(Alg::EdDsa);
        }
        ALL.iter()
            .copied()
            .find(|a| a.name() == name)
            .ok_or_else(|| AlgError::Unknown(name.to_owned()))
    }

    /// Its JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Ps256 => "PS256",
            Alg::Ps384 => "PS384",
            Alg::Ps512 => "PS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::EdDsa => "EdDSA",
        }
    }

    /// The key family it needs.
    pub fn family(self) -> Family {
        match self {
            Alg::Rs256 | Alg::Rs384 | Alg::Rs512 | Alg::Ps256 | Alg::Ps384 | Alg::Ps512 => {
                Family::Rsa
            }
            Alg::Es256 => Family::P256,
            Alg::Es384 => Family::P384,
            Alg::EdDsa => Family::Ed25519,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_and_hmac_are_refused_and_the_rest_named_back() {
        for name in ["none", "NONE", "HS256", "HS384", "HS512", "hs256"] {
            assert!(
                matches!(Alg::parse(name), Err(AlgError::Refused(_))),
                "{name}"
            );
        }
        for name in ["ES512", "RS1", "", "rs256"] {
            assert!(
                matches!(Alg::parse(name), Err(AlgError::Unknown(_))),
                "{name}"
            );
        }
        for alg in ALL {
            assert_eq!(Alg::parse(alg.name()), Ok(alg));
        }
        assert_eq!(Alg::parse("Ed25519"), Ok(Alg::EdDsa));
        let refusal = Alg::parse("HS256").unwrap_err().to_string();
        assert!(
            refusal.contains("RS256") && refusal.contains("EdDSA"),
            "{refusal}"
        );
    }
}
