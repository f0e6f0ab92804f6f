//! Rules for text that comes from outside: which characters a field may
//! hold, how long it may be, and the exact shape of the ids in URL paths.
//! Pure: no I/O, imports nothing of the crate. `web` applies the rules to
//! query parameters, `service` to path ids (a malformed one is not found)
//! and to the admin fields it already checks, `lnurl` to LUD-18 payer data.
//!
//! Why: PostgreSQL refuses a NUL byte in a text value, so a NUL that got as
//! far as a query was a 5xx there and was stored on SQLite. Control
//! characters make logs, pages and webhook payloads lie. Every string is
//! therefore checked once where it enters, before any database write or
//! node call, and refused with a message naming the field.

use std::fmt;

/// Whether a field may span lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// No control character at all.
    One,
    /// `\n` and `\t` allowed (descriptions, comments); no other control
    /// character.
    Many,
}

/// What a field may hold: at most `max_chars` characters (Unicode scalar
/// values), with or without line breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Longest value accepted, in characters.
    pub max_chars: usize,
    /// Whether `\n` and `\t` are allowed.
    pub lines: Lines,
}

impl Rule {
    /// One line of at most `max_chars` characters.
    pub const fn line(max_chars: usize) -> Rule {
        Rule {
            max_chars,
            lines: Lines::One,
        }
    }

    /// Text of at most `max_chars` characters that may hold `\n` and `\t`.
    pub const fn multiline(max_chars: usize) -> Rule {
        Rule {
            max_chars,
            lines: Lines::Many,
        }
    }
}

/// Why a value was refused. Its `Display` names the field, for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextError {
    /// The bytes are not UTF-8.
    NotUtf8 {
        /// The field.
        field: String,
    },
    /// A control character (NUL, ESC, DEL, C1, …) where none may be.
    Control {
        /// The field.
        field: String,
        /// The first one found.
        found: char,
    },
    /// Longer than the rule allows.
    TooLong {
        /// The field.
        field: String,
        /// The rule's limit, in characters.
        max_chars: usize,
    },
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextError::NotUtf8 { field } => write!(f, "{field} is not valid UTF-8"),
            TextError::Control { field, found } => write!(
                f,
                "{field} must not contain control characters (found U+{:04X})",
                u32::from(*found)
            ),
            TextError::TooLong { field, max_chars } => {
                write!(f, "{field} must be at most {max_chars} characters")
            }
        }
    }
}

impl std::error::Error for TextError {}

/// Whether `c` is allowed in a field of `lines`.
fn allowed(c: char, lines: Lines) -> bool {
    !c.is_control() || (lines == Lines::Many && matches!(c, '\n' | '\t'))
}

/// Checks `value` of `field` against `rule`.
pub fn check(field: &str, value: &str, rule: Rule) -> Result<(), TextError> {
    if let Some(found) = value.chars().find(|c| !allowed(*c, rule.lines)) {
        return Err(TextError::Control {
            field: field.to_owned(),
            found,
        });
    }
    // Counting stops one past the limit, so a huge value costs no more.
    if value.chars().take(rule.max_chars.saturating_add(1)).count() > rule.max_chars {
        return Err(TextError::TooLong {
            field: field.to_owned(),
            max_chars: rule.max_chars,
        });
    }
    Ok(())
}

/// `bytes` of `field` as text that follows `rule`.
pub fn from_bytes(field: &str, bytes: Vec<u8>, rule: Rule) -> Result<String, TextError> {
    let s = String::from_utf8(bytes).map_err(|_| TextError::NotUtf8 {
        field: field.to_owned(),
    })?;
    check(field, &s, rule)?;
    Ok(s)
}

/// Checks every string in a JSON value (object keys too), naming each by
/// its path under `field` (`payerdata.name`).
pub fn check_json(field: &str, value: &serde_json::Value, rule: Rule) -> Result<(), TextError> {
    use serde_json::Value;
    match value {
        Value::String(s) => check(field, s, rule),
        Value::Array(items) => items
            .iter()
            .try_for_each(|v| check_json(&format!("{field}[]"), v, rule)),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            let name = format!("{field}.{k}");
            check(&format!("{field} key"), k, rule)?;
            check_json(&name, v, rule)
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

/// Whether `s` is exactly `n` lowercase hex digits (as the server writes
/// them).
pub fn is_lower_hex(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Hex digits after the `_` of a generated id (12 random bytes).
pub const ID_HEX_LEN: usize = 24;

/// Whether `s` has the shape of a generated id with `prefix`:
/// `<prefix>_<24 lowercase hex>`.
pub fn is_id(prefix: &str, s: &str) -> bool {
    s.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|hex| is_lower_hex(hex, ID_HEX_LEN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_except_line_breaks_where_allowed() {
        let one = Rule::line(100);
        let many = Rule::multiline(100);
        assert_eq!(check("title", "Coffee ☕ at Ümit's", one), Ok(()));
        assert_eq!(check("comment", "line 1\nline\t2", many), Ok(()));
        for bad in ["a\0b", "a\u{1b}[31m", "a\u{7f}", "a\u{85}", "a\rb"] {
            assert!(
                matches!(check("comment", bad, many), Err(TextError::Control { .. })),
                "{bad:?}"
            );
        }
        for bad in ["a\nb", "a\tb", "\0"] {
            assert!(
                matches!(check("title", bad, one), Err(TextError::Control { .. })),
                "{bad:?}"
            );
        }
        assert_eq!(
            check("title", "x\0y", one)
                .expect_err("NUL is refused")
                .to_string(),
            "title must not contain control characters (found U+0000)"
        );
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        assert_eq!(check("t", "ééé", Rule::line(3)), Ok(()));
        assert_eq!(
            check("t", "éééé", Rule::line(3))
                .expect_err("4 > 3")
                .to_string(),
            "t must be at most 3 characters"
        );
        assert_eq!(check("t", "", Rule::line(0)), Ok(()));
    }

    #[test]
    fn bytes_must_be_utf8() {
        assert_eq!(
            from_bytes("comment", vec![b'a', 0xff], Rule::line(10)),
            Err(TextError::NotUtf8 {
                field: "comment".into()
            })
        );
        assert_eq!(
            from_bytes("comment", "ok".into(), Rule::line(10)).as_deref(),
            Ok("ok")
        );
    }

    #[test]
    fn json_strings_and_keys_are_checked_by_path() {
        let rule = Rule::line(10);
        let ok = serde_json::json!({"name": "Al", "n": [1, "x"], "b": true});
        assert_eq!(check_json("payerdata", &ok, rule), Ok(()));
        let bad = serde_json::json!({"name": "A\u{0}l"});
        assert_eq!(
            check_json("payerdata", &bad, rule)
                .expect_err("NUL in a value")
                .to_string(),
            "payerdata.name must not contain control characters (found U+0000)"
        );
        let bad_key = serde_json::json!({"na\u{1}me": "x"});
        assert!(check_json("payerdata", &bad_key, rule).is_err());
        let nested = serde_json::json!({"a": {"b": ["\u{7}"]}});
        assert!(check_json("payerdata", &nested, rule).is_err());
    }

    #[test]
    fn ids_have_one_shape() {
        assert!(is_id("pl", "pl_0123456789abcdef01234567"));
        for bad in [
            "pl_0123456789abcdef0123456",
            "pl_0123456789abcdef012345678",
            "pl_0123456789ABCDEF01234567",
            "wl_0123456789abcdef01234567",
            "pl0123456789abcdef01234567",
            "pl_0123456789abcdef0123456\0",
            "pl_",
            "",
        ] {
            assert!(!is_id("pl", bad), "{bad:?}");
        }
    }
}
