//! Endpoint secrets: each webhook URL has its own signing secret. Service
//! layer: imports `db`, the server keys (`service::secrets`) and
//! [`crate::webhook_target`].
//!
//! # Secret
//! Each endpoint URL has its own signing secret (`whsec_` + 64 hex),
//! created on first use (first delivery or first admin request for it),
//! stored encrypted with the server key, shown only through the admin API,
//! replaced by a rotation (the old one stops at once).

use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::WebhookService;
use crate::db::models::WebhookEndpoint;
use crate::db::DbError;
use crate::service::secrets::Purpose;
use crate::service::{now, rfc3339, Error};
use crate::webhook_target::check_target_url;

/// A new endpoint secret: `whsec_` + 32 random bytes in hex.
fn new_endpoint_secret() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!("whsec_{}", hex::encode(b))
}

/// An endpoint as listed (never with its secret).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EndpointView {
    /// The URL.
    pub url: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// RFC 3339 of the last rotation.
    #[schema(format = DateTime)]
    pub rotated_at: Option<String>,
}

/// An endpoint with its secret (answer of the secret and rotate routes).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EndpointSecretView {
    /// The URL.
    pub url: String,
    /// The signing secret (the HMAC key, used as is).
    pub secret: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// RFC 3339 of the last rotation.
    #[schema(format = DateTime)]
    pub rotated_at: Option<String>,
}

impl WebhookService {
    fn check_endpoint_url(&self, u: &str) -> Result<(), Error> {
        check_target_url(u, self.config.allow_private_targets)
            .map(|_| ())
            .map_err(|e| Error::Invalid(format!("url {e}")))
    }

    /// The endpoint row and its clear secret, creating both on first use.
    pub(super) async fn endpoint(&self, url: &str) -> Result<(WebhookEndpoint, String), Error> {
        let u = url.to_owned();
        let found = self.db.run(move |c| WebhookEndpoint::find(c, &u)).await?;
        let row = match found {
            Some(r) => r,
            None => {
                let row = WebhookEndpoint {
                    url: url.to_owned(),
                    secret_enc: self.keys.seal(
                        Purpose::WebhookSecret,
                        url,
                        &new_endpoint_secret(),
                    )?,
                    created_at: now(),
                    rotated_at: None,
                };
                let r = row.clone();
                match self.db.write(move |c| r.insert(c)).await {
                    Ok(()) => row,
                    // Another instance created it first: use theirs.
                    Err(DbError::Duplicate(_)) => {
                        let u = url.to_owned();
                        self.db
                            .run(move |c| WebhookEndpoint::find(c, &u))
                            .await?
                            .ok_or_else(|| Error::Internal("webhook endpoint vanished".into()))?
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        let secret = self
            .keys
            .open(Purpose::WebhookSecret, &row.url, &row.secret_enc)?;
        Ok((row, secret))
    }

    /// Every endpoint that has a secret (never the secrets themselves).
    pub async fn list_webhook_endpoints(&self) -> Result<Vec<EndpointView>, Error> {
        let rows = self.db.run(WebhookEndpoint::list).await?;
        Ok(rows
            .into_iter()
            .map(|r| EndpointView {
                url: r.url,
                created_at: rfc3339(r.created_at),
                rotated_at: r.rotated_at.map(rfc3339),
            })
            .collect())
    }

    /// The current signing secret of `url` (created if it has none yet), so
    /// the operator can configure the receiver.
    pub async fn webhook_secret(&self, url: &str) -> Result<EndpointSecretView, Error> {
        self.check_endpoint_url(url)?;
        let (row, secret) = self.endpoint(url).await?;
        Ok(EndpointSecretView {
            url: row.url,
            secret,
            created_at: rfc3339(row.created_at),
            rotated_at: row.rotated_at.map(rfc3339),
        })
    }

    /// Replaces the signing secret of `url`; the old one stops at once.
    pub async fn rotate_webhook_secret(&self, url: &str) -> Result<EndpointSecretView, Error> {
        self.check_endpoint_url(url)?;
        // Make sure the row exists, then replace its secret.
        self.endpoint(url).await?;
        let secret = new_endpoint_secret();
        let enc = self.keys.seal(Purpose::WebhookSecret, url, &secret)?;
        let (u, t) = (url.to_owned(), now());
        self.db
            .transaction(move |c| WebhookEndpoint::rotate(c, &u, &enc, t))
            .await?;
        let (row, current) = self.endpoint(url).await?;
        Ok(EndpointSecretView {
            url: row.url,
            secret: current,
            created_at: rfc3339(row.created_at),
            rotated_at: row.rotated_at.map(rfc3339),
        })
    }
}
