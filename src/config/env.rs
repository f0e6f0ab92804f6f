//! How `LNURLD_*` environment variables layer over the TOML table (config
//! layer, used only by its parent [`super`]): which variables are keys, how a
//! nested key is set, and how the strings of env vars become numbers and
//! booleans. Imports only `serde` and `toml`.

use serde::{Deserialize, Deserializer};

/// Env vars that are not config keys.
pub(super) fn env_is_not_a_key(name: &str) -> bool {
    name == "LNURLD_CONFIG" || name.starts_with("LNURLD_TEST_") || name == "LNURLD_LOG"
}

/// Sets the nested key `path` (`["node", "kind"]`) of `table` to `value`,
/// making the tables on the way.
pub(super) fn set_path(
    table: &mut toml::Table,
    path: &[String],
    value: toml::Value,
) -> Result<(), String> {
    match path {
        [] => Err("empty key".into()),
        [last] => {
            table.insert(last.clone(), value);
            Ok(())
        }
        [first, rest @ ..] => {
            let entry = table
                .entry(first.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(t) => set_path(t, rest, value),
                _ => Err(format!("{first} is not a table")),
            }
        }
    }
}

/// Numbers may come from TOML (integers) or env vars (strings).
pub(super) fn de_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        Int(u64),
        Str(String),
    }
    match N::deserialize(d)? {
        N::Int(n) => Ok(n),
        N::Str(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("{s:?} is not a whole number"))),
    }
}

/// Booleans may come from TOML or env vars (`true`/`false`/`1`/`0`).
pub(super) fn de_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        Bool(bool),
        Str(String),
    }
    match B::deserialize(d)? {
        B::Bool(b) => Ok(b),
        B::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err(serde::de::Error::custom(format!(
                "{s:?} is not true or false"
            ))),
        },
    }
}

/// A [`de_u64`] that fits in a `u32`.
pub(super) fn de_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = de_u64(d)?;
    u32::try_from(n).map_err(|_| serde::de::Error::custom(format!("{n} is too large")))
}

/// A [`de_u32`] for a setting whose absence means "the default".
pub(super) fn de_opt_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    de_u32(d).map(Some)
}

/// A list of strings: a TOML array, or one env var string with the items
/// separated by commas (empty items are dropped).
pub(super) fn de_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum L {
        List(Vec<String>),
        Str(String),
    }
    Ok(match L::deserialize(d)? {
        L::List(v) => v,
        L::Str(s) => s
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}
