//! Client-supplied text, cut short before it reaches a log line or a
//! refusal: an attacker's 14 KB header must not become 14 KB of every log.

use std::borrow::Cow;

/// What is kept of one piece of client text.
pub const MAX_CLIENT_TEXT: usize = 256;

/// `text` as it is when short; else its first [`MAX_CLIENT_TEXT`] bytes (on
/// a character boundary), an ellipsis and the original length.
pub fn clip(text: &str) -> Cow<'_, str> {
    clip_to(text, MAX_CLIENT_TEXT)
}

/// As [`clip`], keeping at most `max` bytes.
pub fn clip_to(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}… ({} bytes)", &text[..end], text.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_and_long_text_says_how_long_it_was() {
        assert_eq!(clip("ada"), "ada");
        let long = "é".repeat(1000);
        let clipped = clip(&long);
        assert!(clipped.len() < MAX_CLIENT_TEXT + 20, "{}", clipped.len());
        assert!(clipped.ends_with("… (2000 bytes)"), "{clipped}");
        assert!(clipped.starts_with("éé"));
    }
}
