//! Identifiers in API Gateway's style: `R0oXAdfD0kwCH6w=` is 11 random bytes in base64.

use aws_smithy_types::base64::encode as base64;

/// A fresh id shaped like API Gateway's connection, request and message ids.
pub fn new_id() -> String {
    let mut bytes = [0u8; 11];
    bytes.iter_mut().for_each(|b| *b = fastrand::u8(..));
    // URL-safe alphabet: the id is a path segment of every @connections call.
    base64(bytes).replace('+', "-").replace('/', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_api_gateway_ids() {
        let id = new_id();
        assert_eq!(id.len(), 16);
        assert!(id.ends_with('='));
    }
}
