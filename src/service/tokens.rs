//! Admin API tokens: shown once at creation, stored as sha256 hashes
//! (DESIGN.md invariant 5). Service layer: imports `db` only; the `Admin`
//! extractor (`web/admin`) and `lnurld token create` use the handle here.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::{now, Error};
use crate::db::models::ApiToken;
use crate::db::types::TokenId;
use crate::db::Db;

/// Prefix of every token, so leaked tokens are easy to grep for.
pub const TOKEN_PREFIX: &str = "lnurld_";

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The API tokens handle (`svc.tokens()`): needs only the database.
#[derive(Clone)]
pub struct TokenService {
    db: Db,
}

impl TokenService {
    /// Built once by [`super::Services::new`].
    pub(crate) fn new(db: Db) -> TokenService {
        TokenService { db }
    }

    /// Creates a token named `name`; returns the token (the only time it
    /// exists in clear).
    pub async fn create(&self, name: &str) -> Result<String, Error> {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(Error::Invalid(
                "token name must be 1 to 100 characters".into(),
            ));
        }
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let token = format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
        );
        let row = ApiToken {
            id: TokenId::generate(),
            name: name.to_owned(),
            token_hash: hash(&token),
            created_at: now(),
            last_used_at: None,
            revoked_at: None,
        };
        self.db.run(move |c| row.insert(c)).await?;
        Ok(token)
    }

    /// Checks a bearer token. Lookup is by hash of a 256-bit random token,
    /// so timing reveals nothing useful about stored tokens.
    pub async fn authenticate(&self, token: &str) -> Result<ApiToken, Error> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 200 {
            return Err(Error::Unauthorized("invalid token".into()));
        }
        let h = hash(token);
        self.db
            .run(move |c| ApiToken::find_active_by_hash(c, &h))
            .await?
            .ok_or_else(|| Error::Unauthorized("invalid token".into()))
    }

    /// Whether any active token exists (the server mints one on first start).
    pub async fn any_active(&self) -> Result<bool, Error> {
        Ok(self.db.run(ApiToken::count_active).await? > 0)
    }
}
