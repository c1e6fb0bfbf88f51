//! Times for people: ISO 8601 (what API Gateway returns) and short ages.

/// `2026-11-23T09:40:12.345Z`: RFC 3339, what API Gateway returns.
pub fn iso8601(epoch_ms: i64) -> String {
    aws_smithy_types::DateTime::from_millis(epoch_ms)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .expect("a time in milliseconds since 1970 fits RFC 3339")
}

/// `23/Nov/2026:09:40:12 +0000`: the `requestTime` of API Gateway's events.
pub fn request_time(epoch_ms: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // `YYYY-MM-DDTHH:MM:SS…`, cut at fixed offsets.
    let iso = iso8601(epoch_ms - epoch_ms.rem_euclid(1000));
    let month: usize = iso[5..7].parse().expect("RFC 3339 has a two-digit month");
    format!(
        "{}/{}/{}:{} +0000",
        &iso[8..10],
        MONTHS[month - 1],
        &iso[0..4],
        &iso[11..19]
    )
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
    fn formats_request_times_as_api_gateway_does() {
        assert_eq!(
            super::request_time(1_795_426_812_345),
            "23/Nov/2026:09:40:12 +0000"
        );
        assert_eq!(super::request_time(0), "01/Jan/1970:00:00:00 +0000");
    }

    #[test]
    fn formats_ages() {
        assert_eq!(super::age(5), "5s");
        assert_eq!(super::age(300), "5m");
        assert_eq!(super::age(4800), "1h20m");
    }
}
