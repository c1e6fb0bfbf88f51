//! The four Lambda functions, the routes that reach three of them, and the CPU architectures they build for.

use wschat_lambdas::protocol::{CONNECT_ROUTE, DEFAULT_ROUTE, DISCONNECT_ROUTE, ROUTED_ACTIONS};

/// The four Lambda functions. Each runs the same `bootstrap` from `lambdas/`;
/// the route an event arrives on says which part of the chat handles it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Function {
    Connect,
    Disconnect,
    Message,
    /// Delivers one shard of a large room; invoked by `message`, not by the API.
    Deliver,
}

impl Function {
    pub const ALL: [Function; 4] = [
        Function::Connect,
        Function::Disconnect,
        Function::Message,
        Function::Deliver,
    ];
    /// The functions behind the API's routes: they get integrations and
    /// API Gateway's permission to invoke them.
    pub const ROUTED: [Function; 3] = [Function::Connect, Function::Disconnect, Function::Message];

    /// The function's part of every name: `{name}-{stage}-{this}`, `{this}.zip`.
    pub fn name(self) -> &'static str {
        match self {
            Function::Connect => "connect",
            Function::Disconnect => "disconnect",
            Function::Message => "message",
            Function::Deliver => "deliver",
        }
    }
}

/// Every route of the API and the function behind it. The protocol owns the
/// list of routed actions, so a new action gets its route on the next deploy.
pub fn routes() -> Vec<(&'static str, Function)> {
    let mut routes = vec![
        (CONNECT_ROUTE, Function::Connect),
        (DISCONNECT_ROUTE, Function::Disconnect),
        (DEFAULT_ROUTE, Function::Message),
    ];
    routes.extend(ROUTED_ACTIONS.map(|action| (action, Function::Message)));
    routes
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Arch {
    #[serde(rename = "x86_64")]
    X86_64,
    #[serde(rename = "arm64")]
    Arm64,
}

impl Arch {
    pub fn host() -> Arch {
        if cfg!(target_arch = "aarch64") {
            Arch::Arm64
        } else {
            Arch::X86_64
        }
    }

    pub fn rust_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
            Arch::Arm64 => "aarch64-unknown-linux-gnu",
        }
    }

    /// Lambda's name for it.
    pub fn lambda_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_protocol_action_has_a_route_to_the_message_function() {
        let routes = routes();
        for action in ROUTED_ACTIONS {
            assert!(routes.contains(&(action, Function::Message)), "{action}");
        }
        assert!(routes.contains(&("$connect", Function::Connect)));
        assert!(routes.contains(&("$disconnect", Function::Disconnect)));
        assert!(routes.contains(&("$default", Function::Message)));
        assert_eq!(routes.len(), 3 + ROUTED_ACTIONS.len());
    }
}
