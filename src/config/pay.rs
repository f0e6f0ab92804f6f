//! `[pay]` and `[address]`: invoices of pay links, Lightning Address domains, and their checks.

use super::*;

/// `[pay]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PayConfig {
    /// Expiry of invoices issued for pay links.
    #[serde(deserialize_with = "de_u32")]
    pub invoice_expiry_secs: u32,
    /// Most unpaid, unexpired invoices one pay link (or Lightning Address)
    /// may have at once; past it the callback refuses before asking the
    /// node. 0 = no cap.
    #[serde(deserialize_with = "de_u32")]
    pub max_open_invoices_per_link: u32,
}

impl Default for PayConfig {
    fn default() -> Self {
        PayConfig {
            invoice_expiry_secs: 3600,
            max_open_invoices_per_link: 1_000,
        }
    }
}

/// `[address]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AddressConfig {
    /// Domain of Lightning Addresses (`alice@<domain>`). Defaults to the
    /// host of `public_url`.
    pub domain: Option<String>,
}

impl Config {
    /// `[pay]`: invoice expiry.
    pub(super) fn validate_pay(&self) -> Result<(), ConfigError> {
        if self.pay.invoice_expiry_secs < 60 || self.pay.invoice_expiry_secs > 31_536_000 {
            return Err(ConfigError::new(
                "pay.invoice_expiry_secs",
                "must be between 60 and 31536000",
            ));
        }
        Ok(())
    }

    /// `[address]`: the Lightning Address domain, kept in lowercase.
    pub(super) fn validate_address(&mut self) -> Result<(), ConfigError> {
        if let Some(d) = &self.address.domain {
            let ok = !d.is_empty()
                && d.len() <= 253
                && d.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                });
            if !ok {
                return Err(ConfigError::new(
                    "address.domain",
                    format!("{d:?} is not a domain name"),
                ));
            }
            self.address.domain = Some(d.to_ascii_lowercase());
        }
        Ok(())
    }

    /// Domain used for Lightning Addresses.
    pub fn address_domain(&self) -> String {
        self.address.domain.clone().unwrap_or_else(|| {
            self.public_url()
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default()
        })
    }
}
