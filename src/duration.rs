//! Human durations for flags: `500ms`, `30s`, `10m`, `2h`, `1d`.

use std::time::Duration;

pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration; use e.g. 30s, 10m, 2h"))?;
    let per_unit = match unit {
        "ms" => Duration::from_millis(1),
        "s" | "" => Duration::from_secs(1),
        "m" => Duration::from_secs(60),
        "h" => Duration::from_secs(3600),
        "d" => Duration::from_secs(86_400),
        _ => {
            return Err(format!(
                "unknown unit '{unit}' in '{text}'; use ms, s, m, h or d"
            ))
        }
    };
    per_unit
        .checked_mul(n.try_into().map_err(|_| format!("'{text}' is too long"))?)
        .ok_or_else(|| format!("'{text}' is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse("45"), Ok(Duration::from_secs(45)));
        assert!(parse("ten minutes").is_err());
        assert!(parse("5y").is_err());
    }
}
