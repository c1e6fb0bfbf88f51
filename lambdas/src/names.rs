//! Usernames: what a person may be called, after Unicode normalisation, and
//! which names are refused because they pass for someone else's.
//!
//! Unicode TS #39 (security mechanisms) is the reference: NFKC folds
//! compatibility forms (full-width `ａｄａ` is `ada`), every letter must be
//! allowed in identifiers by its General Security Profile, a name must reach
//! the "highly restrictive" level (one script, or Latin with Han, Kana or
//! Hangul), and a name written wholly in another script whose skeleton is
//! plain ASCII (Cyrillic `аоо` for Latin `aoo`) is refused as a whole-script
//! confusable. `docs/protocol.md` states the same rules for clients.

use unicode_normalization::UnicodeNormalization;
use unicode_security::{GeneralSecurityProfile, RestrictionLevel, RestrictionLevelDetection};

pub const MAX_NAME_CHARS: usize = 32;

/// Separators a name may hold besides letters and digits.
const SEPARATORS: [char; 4] = [' ', '_', '-', '.'];

/// Why a name is refused, in words a client can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameRefused {
    pub message: String,
}

impl std::fmt::Display for NameRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn refused(why: impl Into<String>) -> NameRefused {
    NameRefused {
        message: why.into(),
    }
}

/// The name as it is stored and shown: NFKC, checked against look-alikes.
pub fn normalize_username(raw: &str) -> Result<String, NameRefused> {
    let name: String = raw.nfkc().collect();
    let len = name.chars().count();
    let allowed =
        |c: char| SEPARATORS.contains(&c) || (c.is_alphanumeric() && c.identifier_allowed());
    if len == 0 || len > MAX_NAME_CHARS || name.trim() != name || !name.chars().all(allowed) {
        return Err(refused(format!(
            "username must be 1-{MAX_NAME_CHARS} letters, digits, spaces, '_', '-' or '.', not starting or ending with a space"
        )));
    }
    let letters: String = name.chars().filter(|c| !SEPARATORS.contains(c)).collect();
    if letters.as_str().detect_restriction_level() > RestrictionLevel::HighlyRestrictive {
        return Err(refused(
            "username mixes scripts (for example Latin with Cyrillic), so it could pass for another name; write it in one script",
        ));
    }
    if is_whole_script_confusable(&letters) {
        let lookalike: String = unicode_security::skeleton(&letters).collect();
        return Err(refused(format!(
            "username looks like the Latin name '{lookalike}'; write it in Latin letters"
        )));
    }
    Ok(name)
}

/// Written without a single Latin letter, yet indistinguishable from ASCII.
fn is_whole_script_confusable(letters: &str) -> bool {
    !letters.is_ascii() && {
        let skeleton: String = unicode_security::skeleton(letters).collect();
        skeleton.is_ascii()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compatibility_forms_fold_to_their_plain_name() {
        assert_eq!(normalize_username("ａｄａ").unwrap(), "ada");
        assert_eq!(normalize_username("Ada Lovelace").unwrap(), "Ada Lovelace");
        assert_eq!(normalize_username("ﬁona").unwrap(), "fiona");
    }

    #[test]
    fn real_names_in_one_script_pass() {
        for name in [
            "Иван",
            "Σωκράτης",
            "山田太郎",
            "やまだ",
            "김철수",
            "José",
            "Zoë",
            "user_2",
            "j.doe-x",
        ] {
            assert_eq!(normalize_username(name).unwrap(), name);
        }
        // Latin with Japanese is one of TS #39's highly restrictive combinations.
        assert!(normalize_username("ada山田").is_ok());
    }

    #[test]
    fn look_alikes_are_refused() {
        // Cyrillic а in a Latin name; Greek ο in a Latin name.
        for name in ["\u{430}da", "b\u{3bf}b"] {
            let err = normalize_username(name).unwrap_err();
            assert!(err.message.contains("mixes scripts"), "{name}: {err}");
        }
        // All Cyrillic, but reads as Latin "aoo" and "Papa".
        for name in ["\u{430}\u{43e}\u{43e}", "\u{420}\u{430}\u{440}\u{430}"] {
            let err = normalize_username(name).unwrap_err();
            assert!(err.message.contains("looks like"), "{name}: {err}");
        }
    }

    #[test]
    fn malformed_names_are_refused() {
        let long = "x".repeat(MAX_NAME_CHARS + 1);
        for name in [
            "",
            " lead",
            "trail ",
            "<script>",
            "a/b",
            long.as_str(),
            "zero\u{200b}width",
            "ops\u{202e}",
        ] {
            let refused = normalize_username(name).unwrap_err();
            assert!(
                refused.message.starts_with("username must be"),
                "{name:?}: {refused}"
            );
        }
    }
}
