//! Times for people: ISO 8601 (what API Gateway returns) and short ages.

/// `2026-11-23T09:40:12.345Z`: RFC 3339, what API Gateway returns.
pub fn iso8601(epoch_ms: i64) -> String {
    aws_smithy_types::DateTime::from_millis(epoch_ms)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .expect("a time in milliseconds since 1970 fits RFC 3339")
}

/// `42s`, `5m`, `1h20m`.
pub fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_iso8601() {
        assert_eq!(super::iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            super::iso8601(1_795_426_812_345),
            "2026-11-23T09:40:12.345Z"
        );
        assert_eq!(super::iso8601(951_782_400_000), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn formats_ages() {
        assert_eq!(super::age(5), "5s");
        assert_eq!(super::age(300), "5m");
        assert_eq!(super::age(4800), "1h20m");
    }
}
