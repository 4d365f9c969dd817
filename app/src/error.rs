//! The one error type of the application layer: a stable code, a message,
//! a hint, and the exit code the command line gives it.

use std::fmt;

/// What kind of failure an error is; it decides the exit code (CLI spec:
/// 1 the input is wrong or a run failed, 2 usage, 3 the environment).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The input was checked and is wrong, or what it names does not exist.
    Invalid,
    /// The request itself is malformed (a flag, an argument, a value).
    Usage,
    /// Something outside the request failed: the store, a cluster, a file.
    Environment,
}

impl ErrorKind {
    /// The process exit code of the CLI spec.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Invalid => 1,
            ErrorKind::Usage => 2,
            ErrorKind::Environment => 3,
        }
    }
}

/// An error of any use case. `code` is one of the spec's stable codes
/// (`phx::usage`, `phx::no-run`, `phx::report-missing`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppError {
    pub kind: ErrorKind,
    pub code: String,
    pub message: String,
    pub help: Option<String>,
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AppError {}

impl miette::Diagnostic for AppError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(&self.code))
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
}

/// The result of every use case.
pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    fn new(kind: ErrorKind, code: &str, message: impl Into<String>) -> AppError {
        AppError { kind, code: code.to_string(), message: message.into(), help: None }
    }

    /// A malformed request (`phx::usage`).
    pub fn usage(message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::Usage, "phx::usage", message)
    }

    /// Wrong input, with its own code.
    pub fn invalid(code: &str, message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::Invalid, code, message)
    }

    /// The environment failed, with its own code.
    pub fn environment(code: &str, message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::Environment, code, message)
    }

    /// Adds the hint that says what to do.
    pub fn with_help(mut self, help: impl Into<String>) -> AppError {
        self.help = Some(help.into());
        self
    }

    /// The exit code of the CLI spec.
    pub fn exit_code(&self) -> u8 {
        self.kind.exit_code()
    }

    /// `error[CODE]: message` and `help: ...`, as the command line prints it.
    pub fn render(&self) -> String {
        let mut s = format!("error[{}]: {}", self.code, self.message);
        if let Some(h) = &self.help {
            s.push_str(&format!("\n  help: {h}"));
        }
        s
    }

    /// No run of that id in the store.
    pub fn no_run(id: &str, store: &std::path::Path) -> AppError {
        AppError::invalid("phx::no-run", format!("no run `{id}` in {}", store.display()))
            .with_help("`phx runs --dir DIR` (or run_dag) gives run ids")
    }
}

impl From<phx_store::StoreError> for AppError {
    fn from(e: phx_store::StoreError) -> AppError {
        let help = e.hint().to_string();
        AppError::environment("phx::store", e.to_string()).with_help(help)
    }
}

impl From<phx_report::ReportError> for AppError {
    fn from(e: phx_report::ReportError) -> AppError {
        let kind = match e {
            phx_report::ReportError::Store(_) => ErrorKind::Environment,
            _ => ErrorKind::Invalid,
        };
        AppError::new(kind, e.code(), e.to_string()).with_help(e.hint())
    }
}

impl From<phx_notebook::NotebookError> for AppError {
    fn from(e: phx_notebook::NotebookError) -> AppError {
        let kind = match e {
            phx_notebook::NotebookError::Store(_) => ErrorKind::Environment,
            _ => ErrorKind::Invalid,
        };
        AppError::new(kind, e.code(), e.to_string()).with_help(e.hint())
    }
}

impl From<phx_bundle::BundleError> for AppError {
    fn from(e: phx_bundle::BundleError) -> AppError {
        let kind = match e {
            phx_bundle::BundleError::Io(_) | phx_bundle::BundleError::Store(_) => ErrorKind::Environment,
            _ => ErrorKind::Invalid,
        };
        AppError::new(kind, e.code(), e.to_string()).with_help(e.hint())
    }
}

impl From<crate::share::links::LinkError> for AppError {
    fn from(e: crate::share::links::LinkError) -> AppError {
        match e {
            crate::share::links::LinkError::Usage(m) => AppError::usage(m),
            other => AppError::environment("phx::share", other.to_string()),
        }
    }
}
