//! Tokens signed by an independent implementation (PyJWT with Python
//! `cryptography`, for RSA: `fixtures/jwt/pyjwt-rsa.json`) and by ring's
//! signers (EC and Ed25519, made here), and the classic attacks on
//! verifiers (RFC 8725 §2), each refused for its own reason.

use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use serde_json::{Value, json};

use super::*;
use crate::base64::encode_url;

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "http://127.0.0.1:9/g/a";
/// 2030-01-01, inside every test token's validity.
const NOW: u64 = 1_893_456_000;

fn rules<'a>(audiences: &'a [String], algorithms: &'a [Alg]) -> Rules<'a> {
    Rules {
        issuer: ISSUER,
        audiences,
        algorithms,
        leeway_seconds: 30,
        now: NOW,
        roles_claim: None,
    }
}

fn audiences() -> Vec<String> {
    vec![AUDIENCE.to_owned()]
}

fn claims() -> Value {
    json!({"iss": ISSUER, "sub": "alice", "aud": AUDIENCE, "exp": 4_102_444_800u64,
           "nbf": 1_700_000_000u64, "roles": ["admin", "dev"], "client_id": "cli"})
}

/// A signer of ours and the JWK of its public key.
enum TokenSigner {
    Ec(EcdsaKeyPair, Alg),
    Ed(Ed25519KeyPair),
}

impl TokenSigner {
    fn ec(alg: Alg) -> TokenSigner {
        let rng = SystemRandom::new();
        let spec = match alg {
            Alg::Es256 => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            _ => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        };
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(spec, &rng).unwrap();
        TokenSigner::Ec(
            EcdsaKeyPair::from_pkcs8(spec, pkcs8.as_ref(), &rng).unwrap(),
            alg,
        )
    }

    fn ed() -> TokenSigner {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        TokenSigner::Ed(Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap())
    }

    fn jwk(&self, kid: &str) -> Value {
        match self {
            TokenSigner::Ec(pair, alg) => {
                let point = pair.public_key().as_ref();
                let size = (point.len() - 1) / 2;
                let crv = if *alg == Alg::Es256 { "P-256" } else { "P-384" };
                json!({"kty": "EC", "crv": crv, "kid": kid,
                       "x": encode_url(&point[1..=size]), "y": encode_url(&point[1 + size..])})
            }
            TokenSigner::Ed(pair) => json!({"kty": "OKP", "crv": "Ed25519", "kid": kid,
                                       "x": encode_url(pair.public_key().as_ref())}),
        }
    }

    fn alg(&self) -> Alg {
        match self {
            TokenSigner::Ec(_, alg) => *alg,
            TokenSigner::Ed(_) => Alg::EdDsa,
        }
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        let signed = format!(
            "{}.{}",
            encode_url(header.to_string().as_bytes()),
            encode_url(claims.to_string().as_bytes())
        );
        let signature = match self {
            TokenSigner::Ec(pair, _) => pair
                .sign(&SystemRandom::new(), signed.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec(),
            TokenSigner::Ed(pair) => pair.sign(signed.as_bytes()).as_ref().to_vec(),
        };
        format!("{signed}.{}", encode_url(&signature))
    }

    fn token(&self, kid: &str, claims: &Value) -> String {
        self.sign(&json!({"alg": self.alg().name(), "kid": kid}), claims)
    }
}

fn keys(jwks: &[Value]) -> KeySet {
    KeySet::parse(json!({ "keys": jwks }).to_string().as_bytes()).unwrap()
}

fn pyjwt() -> Value {
    serde_json::from_str(include_str!("../../fixtures/jwt/pyjwt-rsa.json")).unwrap()
}

#[test]
fn tokens_signed_by_pyjwt_verify_and_name_their_caller() {
    let vectors = pyjwt();
    let set = keys(&[vectors["jwk"].clone()]);
    let auds = audiences();
    let algs = [Alg::Rs256, Alg::Ps384];
    for name in ["rs256", "ps384"] {
        let token = vectors[name].as_str().unwrap();
        let v = verify(token, &set, &rules(&auds, &algs)).unwrap();
        assert_eq!(v.identity(), Some("alice"));
        assert_eq!(v.client_id.as_deref(), Some("cli"));
        assert_eq!(v.roles, ["admin", "dev"]);
        // Tampered claims: the signature no longer holds.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut forged = claims();
        forged["sub"] = json!("mallory");
        parts[1] = encode_url(forged.to_string().as_bytes());
        assert_eq!(
            verify(&parts.join("."), &set, &rules(&auds, &algs)),
            Err(Rejection::BadSignature),
            "{name}"
        );
    }
    // An algorithm the configuration does not take.
    let rs = vectors["rs256"].as_str().unwrap();
    assert_eq!(
        verify(rs, &set, &rules(&auds, &DEFAULT[1..])),
        Err(Rejection::Algorithm("RS256".into()))
    );
}

#[test]
fn ec_and_ed25519_tokens_verify_with_their_own_keys_only() {
    let auds = audiences();
    let signers = [
        TokenSigner::ec(Alg::Es256),
        TokenSigner::ec(Alg::Es384),
        TokenSigner::ed(),
    ];
    let jwks: Vec<Value> = signers
        .iter()
        .enumerate()
        .map(|(i, s)| s.jwk(&format!("k{i}")))
        .collect();
    let set = keys(&jwks);
    for (i, signer) in signers.iter().enumerate() {
        let token = signer.token(&format!("k{i}"), &claims());
        assert!(verify(&token, &set, &rules(&auds, &ALL)).is_ok(), "{i}");
        // Named by another key's kid: that key does not fit or fails.
        let other = format!("k{}", (i + 1) % 3);
        let token = signer.token(&other, &claims());
        assert_eq!(
            verify(&token, &set, &rules(&auds, &ALL)),
            Err(Rejection::UnknownKey),
            "{i}"
        );
    }
    // Without a kid, every key that fits is tried.
    let token = signers[2].sign(&json!({"alg": "EdDSA"}), &claims());
    assert!(verify(&token, &set, &rules(&auds, &ALL)).is_ok());
    // RFC 9864's name for it.
    let token = signers[2].sign(&json!({"alg": "Ed25519", "kid": "k2"}), &claims());
    assert!(verify(&token, &set, &rules(&auds, &ALL)).is_ok());
}

#[test]
fn claims_are_checked_after_the_signature() {
    let signer = TokenSigner::ec(Alg::Es256);
    let set = keys(&[signer.jwk("k")]);
    let auds = vec![
        "http://127.0.0.1:9/g/a/".to_owned(),
        "http://127.0.0.1:9/g/a/mcp".to_owned(),
    ];
    let check = |edit: &dyn Fn(&mut Value)| {
        let mut c = claims();
        edit(&mut c);
        verify(&signer.token("k", &c), &set, &rules(&auds, &ALL))
    };
    assert!(check(&|_| {}).is_ok(), "a trailing / is not significant");
    assert!(check(&|c| c["aud"] = json!(["x", "http://127.0.0.1:9/g/a/mcp"])).is_ok());
    assert_eq!(
        check(&|c| c["aud"] = json!("http://127.0.0.1:9/g/b")),
        Err(Rejection::Audience)
    );
    assert_eq!(
        check(&|c| c["aud"] = json!(["x", "y"])),
        Err(Rejection::Audience)
    );
    assert_eq!(
        check(&|c| {
            c.as_object_mut().unwrap().remove("aud");
        }),
        Err(Rejection::Audience)
    );
    assert_eq!(
        check(&|c| c["iss"] = json!("https://issuer.test/")),
        Err(Rejection::Issuer)
    );
    assert_eq!(
        check(&|c| {
            c.as_object_mut().unwrap().remove("exp");
        }),
        Err(Rejection::NoExpiry)
    );
    // exp and nbf with 30 s of leeway, fractional dates too.
    assert!(check(&|c| c["exp"] = json!(NOW - 29)).is_ok());
    assert_eq!(
        check(&|c| c["exp"] = json!(NOW - 30)),
        Err(Rejection::Expired)
    );
    assert_eq!(
        check(&|c| c["exp"] = json!(NOW as f64 - 30.5)),
        Err(Rejection::Expired)
    );
    assert!(check(&|c| c["nbf"] = json!(NOW + 30)).is_ok());
    assert_eq!(
        check(&|c| c["nbf"] = json!(NOW + 31)),
        Err(Rejection::NotYetValid)
    );
    // Roles: `roles`, else `realm_access.roles`; a string is split.
    let roles = |edit: &dyn Fn(&mut Value), path: Option<&str>| {
        let mut c = claims();
        edit(&mut c);
        let mut r = rules(&auds, &ALL);
        r.roles_claim = path;
        verify(&signer.token("k", &c), &set, &r).unwrap().roles
    };
    let realm = |c: &mut Value| {
        c.as_object_mut().unwrap().remove("roles");
        c["realm_access"] = json!({"roles": ["ops"]});
    };
    assert_eq!(roles(&realm, None), ["ops"]);
    assert_eq!(
        roles(&|c| c["scope"] = json!("read write"), Some("scope")),
        ["read", "write"]
    );
    assert!(roles(&|_| {}, Some("groups")).is_empty());
    // Without `sub`, the client names the caller.
    let mut c = claims();
    c.as_object_mut().unwrap().remove("sub");
    c.as_object_mut().unwrap().remove("client_id");
    c["azp"] = json!("robot");
    let v = verify(&signer.token("k", &c), &set, &rules(&auds, &ALL)).unwrap();
    assert_eq!(v.identity(), Some("robot"));
}

#[test]
fn the_classic_attacks_are_refused() {
    let vectors = pyjwt();
    let rsa = vectors["jwk"].clone();
    let signer = TokenSigner::ec(Alg::Es256);
    let set = keys(&[rsa.clone(), signer.jwk("ec")]);
    let auds = audiences();
    let r = rules(&auds, &ALL);
    let body = encode_url(claims().to_string().as_bytes());
    let head = |h: Value| encode_url(h.to_string().as_bytes());
    // alg: none, unsigned.
    let none = format!("{}.{body}.", head(json!({"alg": "none"})));
    assert_eq!(
        verify(&none, &set, &r),
        Err(Rejection::Algorithm("none".into()))
    );
    // HS256 keyed with the RSA public key (key confusion).
    let signed = format!("{}.{body}", head(json!({"alg": "HS256", "kid": "rsa-1"})));
    let mac = crate::sha256::hmac(rsa["n"].as_str().unwrap().as_bytes(), signed.as_bytes());
    let hs = format!("{signed}.{}", encode_url(&mac));
    assert_eq!(
        verify(&hs, &set, &r),
        Err(Rejection::Algorithm("HS256".into()))
    );
    // An EC token that names the RSA key.
    let confused = signer.token("rsa-1", &claims());
    assert_eq!(verify(&confused, &set, &r), Err(Rejection::UnknownKey));
    // An unknown kid.
    assert_eq!(
        verify(&signer.token("gone", &claims()), &set, &r),
        Err(Rejection::UnknownKey)
    );
    // Extensions we do not understand.
    let crit = signer.sign(
        &json!({"alg": "ES256", "kid": "ec", "crit": ["exp"]}),
        &claims(),
    );
    assert_eq!(verify(&crit, &set, &r), Err(Rejection::Critical));
    // An embedded key is never trusted: the set decides.
    let embedded = TokenSigner::ec(Alg::Es256);
    let with_jwk = embedded.sign(
        &json!({"alg": "ES256", "jwk": embedded.jwk("x")}),
        &claims(),
    );
    assert_eq!(verify(&with_jwk, &set, &r), Err(Rejection::BadSignature));
    // A DER signature is not JOSE's R‖S.
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(
        &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &SystemRandom::new(),
    )
    .unwrap();
    let der = EcdsaKeyPair::from_pkcs8(
        &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        pkcs8.as_ref(),
        &SystemRandom::new(),
    )
    .unwrap();
    let der_jwk = TokenSigner::Ec(
        EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8.as_ref(),
            &SystemRandom::new(),
        )
        .unwrap(),
        Alg::Es256,
    )
    .jwk("der");
    let signed = format!("{}.{body}", head(json!({"alg": "ES256", "kid": "der"})));
    let sig = der.sign(&SystemRandom::new(), signed.as_bytes()).unwrap();
    let der_token = format!("{signed}.{}", encode_url(sig.as_ref()));
    let der_set = keys(&[der_jwk]);
    assert_eq!(
        verify(&der_token, &der_set, &r),
        Err(Rejection::BadSignature)
    );
    // Shapes: a JWE (five parts), junk, padding, a header that is no object.
    let token = signer.token("ec", &claims());
    for bad in [
        format!("{token}.x.y"),
        "a.b".to_owned(),
        format!("{token}="),
        format!("{}.{body}.AA", encode_url(b"[1]")),
    ] {
        assert!(
            matches!(verify(&bad, &set, &r), Err(Rejection::Malformed(_))),
            "{bad}"
        );
    }
    // Oversized, refused before anything is decoded.
    let big = "a".repeat(crate::limits::MAX_BEARER_JWT_BYTES + 1);
    assert_eq!(verify(&big, &set, &r), Err(Rejection::TooLarge));
}
