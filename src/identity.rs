//! Who called: the identity a request's credentials prove, as records,
//! policies and the management API name it. A static token's name (or
//! `token-<n>` for an unnamed one), `local-user` for the original's `local`
//! token, or a JWT's `sub` (its client id when it has none). Never the
//! credential itself.

/// A caller the gateway authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    /// Its name in records.
    pub name: String,
    /// The OAuth client it came through (`client_id` or `azp`), if known.
    pub client_id: Option<String>,
    /// Its roles, for policies.
    pub roles: Vec<String>,
}

impl Identity {
    /// The identity of a static token.
    pub fn named(name: impl Into<String>, roles: Vec<String>) -> Identity {
        Identity {
            name: name.into(),
            client_id: None,
            roles,
        }
    }
}
