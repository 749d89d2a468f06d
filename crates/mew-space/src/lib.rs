//! The space model: labels, roles, container states and the observed container (`model`, the
//! bottom layer), space.yaml loading and validation (`config`), desired state and the pure
//! planner (`plan`), compose/stack/Kubernetes export (`export`), bind address → reachable URL
//! (`net`) and token files (`tokens`). No engine and no async runtime: everything here is a
//! function of files and values.
pub mod config;
pub mod export;
pub mod model;
pub mod net;
pub mod plan;
pub mod tokens;

/// An error and its causes on one line, joined by ": ". Messages leave their `#[source]` out
/// (thiserror's convention), so each cause appears once: the one way mew shows an error.
pub fn error_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut line = err.to_string();
    let mut cause = err.source();
    while let Some(e) = cause {
        line.push_str(": ");
        line.push_str(&e.to_string());
        cause = e.source();
    }
    line.replace('\n', " ")
}
