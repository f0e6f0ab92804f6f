//! Admin API tokens: shown once at creation, stored as sha256 hashes
//! (DESIGN.md invariant 5). Service layer: imports `db` only; the `Admin`
//! extractor (`web/admin`) and `lnurld token create` use the handle here.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use serde::Serialize;

use super::{now, rfc3339, Error};
use crate::db::models::ApiToken;
use crate::db::types::TokenId;
use crate::db::{Db, DbError};

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
        if name.is_empty() || name.chars().count() > 100 {
            return Err(Error::Invalid(
                "token name must be 1 to 100 characters".into(),
            ));
        }
        crate::text::check("name", name, crate::text::Rule::line(100))?;
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
        match self.db.write(move |c| row.insert(c)).await {
            Ok(()) => Ok(token),
            Err(DbError::Duplicate(_)) => Err(Error::Conflict(format!(
                "an active token is already named {name:?}; revoke it or choose another name"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Checks a bearer token. Lookup is by hash of a 256-bit random token,
    /// so timing reveals nothing useful about stored tokens.
    pub async fn authenticate(&self, token: &str) -> Result<ApiToken, Error> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 200 {
            return Err(Error::Unauthorized("invalid token".into()));
        }
        let h = hash(token);
        let t = now();
        self.db
            .write(move |c| {
                let found = ApiToken::find_active_by_hash(c, &h)?;
                if let Some(found) = &found {
                    ApiToken::touch(c, &found.id, t)?;
                }
                Ok(found)
            })
            .await?
            .ok_or_else(|| Error::Unauthorized("invalid token or revoked token".into()))
    }

    /// Every token (never its secret or hash), active ones first.
    pub async fn list(&self) -> Result<Vec<TokenView>, Error> {
        let rows = self.db.run(ApiToken::list).await?;
        Ok(rows.iter().map(TokenView::from_row).collect())
    }

    /// Revokes the active token with this id or name. It stops working at
    /// once on every instance (each request looks its token up).
    pub async fn revoke(&self, id_or_name: &str) -> Result<TokenView, Error> {
        let key = id_or_name.trim().to_owned();
        let t = now();
        let shown = key.clone();
        let row = self
            .db
            .write(move |c| ApiToken::revoke(c, &key, t))
            .await?
            .ok_or_else(|| Error::NotFound(format!("no active token with id or name {shown:?}")))?;
        Ok(TokenView::from_row(&row))
    }

    /// Whether any active token exists (the server mints one on first start).
    pub async fn any_active(&self) -> Result<bool, Error> {
        Ok(self.db.run(ApiToken::count_active).await? > 0)
    }
}

/// A token as the API and the CLI show it: never the token or its hash.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenView {
    /// `tok_…`.
    pub id: TokenId,
    /// The name given at creation (unique among active tokens).
    pub name: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// RFC 3339 of the last request made with it (to the minute), if any.
    #[schema(format = DateTime)]
    pub last_used_at: Option<String>,
    /// RFC 3339, once revoked.
    #[schema(format = DateTime)]
    pub revoked_at: Option<String>,
}

impl TokenView {
    fn from_row(t: &ApiToken) -> TokenView {
        TokenView {
            id: t.id.clone(),
            name: t.name.clone(),
            created_at: rfc3339(t.created_at),
            last_used_at: t.last_used_at.map(rfc3339),
            revoked_at: t.revoked_at.map(rfc3339),
        }
    }
}
