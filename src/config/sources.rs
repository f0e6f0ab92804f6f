//! Where each setting came from — the file (with its line), an `LNURLD_*`
//! variable, or a flag — so that every refusal names the key *and* the place
//! to fix it (config layer, used only by its parent [`super`]).

use std::collections::BTreeMap;

/// The place a key's value was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Origin {
    /// `file` at 1-based `line`.
    File { file: String, line: usize },
    /// An environment variable, by name.
    Env(String),
    /// A command-line flag (`--listen`).
    Flag(&'static str),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File { file, line } => write!(f, "{file} line {line}"),
            Origin::Env(name) => write!(f, "env {name}"),
            Origin::Flag(flag) => f.write_str(flag),
        }
    }
}

/// Every given key (dotted, `node.kind`) and the last layer that gave it.
#[derive(Debug, Default)]
pub(super) struct Origins(BTreeMap<String, Origin>);

impl Origins {
    pub(super) fn set(&mut self, key: &str, origin: Origin) {
        self.0.insert(key.to_owned(), origin);
    }

    /// Where `key` (or, for a section-wide problem, the first key given
    /// inside it) came from.
    pub(super) fn of(&self, key: &str) -> Option<&Origin> {
        self.0.get(key).or_else(|| {
            let inside = format!("{key}.");
            self.0
                .iter()
                .find(|(k, _)| k.starts_with(&inside))
                .map(|(_, o)| o)
        })
    }

    /// Records every key of a parsed file with its line in `text`.
    pub(super) fn add_file(&mut self, file: &str, text: &str, table: &toml::Table) {
        let mut keys = Vec::new();
        dotted_keys(table, "", &mut keys);
        for key in keys {
            let line = line_of_key(text, &key).unwrap_or(1);
            self.set(
                &key,
                Origin::File {
                    file: file.to_owned(),
                    line,
                },
            );
        }
    }
}

fn dotted_keys(table: &toml::Table, prefix: &str, out: &mut Vec<String>) {
    for (k, v) in table {
        let key = format!("{prefix}{k}");
        match v {
            toml::Value::Table(t) => dotted_keys(t, &format!("{key}."), out),
            _ => out.push(key),
        }
    }
}

/// The 1-based line of `dotted` (`node.kind`) in a TOML text: a `key =`
/// line under its `[section]`, or a dotted `node.kind =` line. Good enough
/// for the flat files lnurld reads; `None` when it cannot tell.
pub(super) fn line_of_key(text: &str, dotted: &str) -> Option<usize> {
    let mut section = String::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(header) = line.strip_prefix('[') {
            if let Some(name) = header.split(']').next() {
                section = name.trim().trim_matches('[').trim().to_owned();
            }
            continue;
        }
        let Some((key, _)) = line.split_once('=') else {
            continue;
        };
        let key: String = key
            .split('.')
            .map(|p| p.trim().trim_matches('"'))
            .collect::<Vec<_>>()
            .join(".");
        let full = if section.is_empty() {
            key
        } else {
            format!("{section}.{key}")
        };
        if full == dotted {
            return Some(i + 1);
        }
    }
    None
}

/// The dotted key that a TOML error at byte `at` of `text` is about: the
/// key on that line, under the section above it.
pub(super) fn key_at(text: &str, at: usize) -> (usize, Option<String>) {
    let at = at.min(text.len());
    let line_no = text[..at].matches('\n').count() + 1;
    let mut section = String::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(header) = line.strip_prefix('[') {
            if let Some(name) = header.split(']').next() {
                section = name.trim().to_owned();
            }
        }
        if i + 1 == line_no {
            if line.starts_with('[') {
                return (line_no, Some(section));
            }
            let key = line.split_once('=').map(|(k, _)| {
                k.split('.')
                    .map(|p| p.trim().trim_matches('"'))
                    .collect::<Vec<_>>()
                    .join(".")
            });
            let key = key.map(|k| {
                if section.is_empty() {
                    k
                } else {
                    format!("{section}.{k}")
                }
            });
            return (line_no, key);
        }
    }
    (line_no, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "public_url = \"https://x\"\n\n[node]\nkind = \"LND\"\n  endpoint=\"h\"\n[withdraw]\nmax_fee_ppm = 5\n";

    #[test]
    fn keys_have_lines() {
        assert_eq!(line_of_key(TEXT, "public_url"), Some(1));
        assert_eq!(line_of_key(TEXT, "node.kind"), Some(4));
        assert_eq!(line_of_key(TEXT, "node.endpoint"), Some(5));
        assert_eq!(line_of_key(TEXT, "withdraw.max_fee_ppm"), Some(7));
        assert_eq!(line_of_key(TEXT, "kind"), None);
        let at = TEXT.find("LND").unwrap();
        assert_eq!(key_at(TEXT, at), (4, Some("node.kind".to_owned())));
    }
}
