//! Bearer JWTs, checked offline: the JWS algorithms we take (`alg`), the
//! keys that may sign them (`jwk`, a JWK Set), and the checks a token must
//! pass (`verify`). Signatures are ring's, the crypto rustls already
//! brings. Pure: no IO, no clock (the caller gives the time).

mod alg;
mod jwk;
mod verify;

pub use alg::{ALL, Alg, AlgError, DEFAULT, Family};
pub use jwk::{Jwk, KeySet, KeySetError};
pub use verify::{Rejection, Rules, Verified, verify};

#[cfg(test)]
mod tests;
