//! Just enough XML for Route 53's answers and error bodies (and the query
//! protocol's errors): the text of named elements, escaped and unescaped.
//! Route 53's documents are flat and namespaced only by a default
//! `xmlns`, so a element's text is what lies between `<Tag>` (or
//! `<Tag attr=…>`) and the next `</Tag>`.

/// The inner text of every `<tag>` element, in document order, unescaped
/// when it holds no child elements.
pub fn all(text: &str, tag: &str) -> Vec<String> {
    let close = format!("</{tag}>");
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = open_end(rest, tag) {
        let inner = &rest[start..];
        let Some(end) = inner.find(&close) else {
            break;
        };
        let content = &inner[..end];
        found.push(if content.contains('<') {
            content.to_owned()
        } else {
            unescape(content)
        });
        rest = &inner[end + close.len()..];
    }
    found
}

/// The first `<tag>` element's text.
pub fn first(text: &str, tag: &str) -> Option<String> {
    all(text, tag).into_iter().next()
}

/// Where the first `<tag>` or `<tag …>` opening of `text` ends.
fn open_end(text: &str, tag: &str) -> Option<usize> {
    let open = format!("<{tag}");
    let mut from = 0;
    while let Some(at) = text[from..].find(&open) {
        let after = from + at + open.len();
        match text[after..].chars().next() {
            Some('>') => return Some(after + 1),
            Some(' ') => return text[after..].find('>').map(|e| after + e + 1),
            _ => from = after,
        }
    }
    None
}

/// `text` safe inside an element.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_are_found_by_exact_name_and_unescaped() {
        let doc = r#"<R xmlns="x"><HostedZone><Id>/hostedzone/Z1</Id><Name>a.com.</Name><NameServer>n</NameServer></HostedZone><HostedZone><Id>/hostedzone/Z2</Id><Name>b &amp; c.</Name></HostedZone></R>"#;
        let zones = all(doc, "HostedZone");
        assert_eq!(zones.len(), 2);
        assert_eq!(first(&zones[0], "Name").as_deref(), Some("a.com."));
        assert_eq!(first(&zones[1], "Name").as_deref(), Some("b & c."));
        assert_eq!(all(doc, "Id"), ["/hostedzone/Z1", "/hostedzone/Z2"]);
        assert_eq!(first(doc, "Missing"), None);
        assert_eq!(
            first(r#"<ErrorResponse><Error><Code a="1">NoSuchHostedZone</Code></Error></ErrorResponse>"#, "Code").as_deref(),
            Some("NoSuchHostedZone")
        );
        assert_eq!(escape("a<b&"), "a&lt;b&amp;");
    }
}
