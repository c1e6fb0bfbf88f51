//! One error type for the CLI: what went wrong, what to do next, and the exit code.

use std::process::ExitCode;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad flags or names: exit code 2, before any AWS call.
    #[error("{message}")]
    Usage {
        message: String,
        hint: Option<String>,
    },
    /// Anything else that stopped the command: exit code 1.
    #[error("{message}")]
    Failed {
        message: String,
        hint: Option<String>,
    },
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::Usage {
            message: message.into(),
            hint: None,
        }
    }

    pub fn failed(message: impl Into<String>) -> Self {
        CliError::Failed {
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, text: impl Into<String>) -> Self {
        match &mut self {
            CliError::Usage { hint, .. } | CliError::Failed { hint, .. } => {
                *hint = Some(text.into())
            }
        }
        self
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Usage { .. } => ExitCode::from(2),
            CliError::Failed { .. } => ExitCode::from(1),
        }
    }

    /// The message and the hint, for reports that show them apart.
    pub fn parts(&self) -> (String, Option<&str>) {
        let (CliError::Usage { message, hint } | CliError::Failed { message, hint }) = self;
        (message.clone(), hint.as_deref())
    }

    pub fn report(&self) -> String {
        let (CliError::Usage { message, hint } | CliError::Failed { message, hint }) = self;
        match hint {
            Some(hint) => format!("error: {message}\n  hint: {hint}"),
            None => format!("error: {message}"),
        }
    }
}
