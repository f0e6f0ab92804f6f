//! Amounts on the command line: parsed from `1000sat`, `1500msat` or
//! `0.001btc` into msat, and shown in sats unless they are not whole.

use anyhow::bail;

use lnurld::lnurl::group_thousands;
use lnurld::service::MAX_AMOUNT_MSAT;

/// msat per unit, and how many decimal places the unit can carry before
/// it would be finer than one msat.
const UNITS: &[(&str, u64, usize)] = &[
    ("msat", 1, 0),
    ("msats", 1, 0),
    ("sat", 1_000, 3),
    ("sats", 1_000, 3),
    ("btc", 100_000_000_000, 11),
];

/// Parses the value of `flag` into msat. Every refusal names the flag and
/// the value, and says what would be accepted.
pub fn parse_amount(flag: &str, value: &str) -> anyhow::Result<u64> {
    let s = value.trim().to_ascii_lowercase();
    let number_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(s.len());
    let (number, unit) = (s[..number_end].trim(), s[number_end..].trim());
    if number.is_empty() {
        bail!("{flag} {value:?}: give a number with a unit, e.g. 1000sat, 1500msat or 0.001btc");
    }
    if number.starts_with('-') {
        bail!("{flag} {value:?}: must be more than 0");
    }
    if unit.is_empty() {
        bail!("{flag} {value:?} needs a unit: e.g. {number}sat, {number}msat or {number}btc");
    }
    let Some(&(_, per_unit, max_decimals)) = UNITS.iter().find(|(name, ..)| *name == unit) else {
        bail!("{flag} {value:?}: unknown unit {unit:?}; use sat, msat or btc");
    };
    let number = number.strip_prefix('+').unwrap_or(number);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits_only = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits_only(whole) || !digits_only(fraction) {
        bail!("{flag} {value:?}: {number:?} is not a number");
    }
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() > max_decimals {
        bail!("{flag} {value:?} is finer than 1 msat, the smallest amount Lightning can carry");
    }
    let too_large = || {
        anyhow::anyhow!(
            "{flag} {value:?} is too large: at most {} btc",
            MAX_AMOUNT_MSAT / 100_000_000_000
        )
    };
    let whole_msat = if whole.is_empty() {
        0
    } else {
        whole
            .parse::<u64>()
            .ok()
            .and_then(|w| w.checked_mul(per_unit))
            .ok_or_else(too_large)?
    };
    // The fraction has at most `max_decimals` digits, so its msat value is
    // below `per_unit`: no overflow.
    let fraction_msat = if fraction.is_empty() {
        0
    } else {
        let scale = 10u64.pow((max_decimals - fraction.len()) as u32);
        fraction.parse::<u64>().map_or(0, |f| f * scale)
    };
    let msat = whole_msat
        .checked_add(fraction_msat)
        .ok_or_else(too_large)?;
    if msat == 0 {
        bail!("{flag} {value:?}: must be more than 0");
    }
    if msat > MAX_AMOUNT_MSAT {
        return Err(too_large());
    }
    Ok(msat)
}

/// `1000 sat`, or `1500 msat` when the amount is not whole sats.
pub fn show_msat(msat: u64) -> String {
    if msat.is_multiple_of(1000) {
        format!("{} sat", group_thousands(msat / 1000))
    } else {
        format!("{} msat", group_thousands(msat))
    }
}

/// One amount, or a range `10 – 1,000 sat` in one unit when both allow it.
pub fn show_range(min: u64, max: u64) -> String {
    if min == max {
        show_msat(min)
    } else if min.is_multiple_of(1000) && max.is_multiple_of(1000) {
        format!(
            "{} – {} sat",
            group_thousands(min / 1000),
            group_thousands(max / 1000)
        )
    } else {
        format!("{} – {}", show_msat(min), show_msat(max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_decimals() {
        let ok = [
            ("1000sat", 1_000_000),
            ("1000 sats", 1_000_000),
            ("1500msat", 1_500),
            ("1.5sat", 1_500),
            ("0.5btc", 50_000_000_000),
            ("0.00000001BTC", 1_000),
            ("0.00000000001btc", 1),
            ("+2sat", 2_000),
            (".5sat", 500),
        ];
        for (s, want) in ok {
            assert_eq!(parse_amount("--amount", s).unwrap(), want, "{s}");
        }
    }

    #[test]
    fn each_refusal_says_what_is_wrong() {
        let bad = [
            ("1000", "needs a unit"),
            ("-5sat", "more than 0"),
            ("0sat", "more than 0"),
            ("0.0btc", "more than 0"),
            ("5 bananas", "unknown unit"),
            ("1.2.3sat", "not a number"),
            ("1.0001sat", "finer than 1 msat"),
            ("1.5msat", "finer than 1 msat"),
            ("99999999999999999999sat", "too large"),
            ("21000001btc", "too large"),
            ("sat", "give a number"),
        ];
        for (s, want) in bad {
            let e = parse_amount("--amount", s).unwrap_err().to_string();
            assert!(e.contains(want), "{s}: {e}");
            assert!(e.starts_with("--amount"), "{s}: {e}");
        }
    }

    #[test]
    fn shown_in_sats_unless_not_whole() {
        assert_eq!(show_msat(1_000_000), "1,000 sat");
        assert_eq!(show_msat(1_500), "1,500 msat");
        assert_eq!(show_range(1_000, 1_000_000_000), "1 – 1,000,000 sat");
        assert_eq!(show_range(1_500, 2_000), "1,500 msat – 2 sat");
        assert_eq!(show_range(7_000, 7_000), "7 sat");
    }
}
