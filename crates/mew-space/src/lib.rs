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
