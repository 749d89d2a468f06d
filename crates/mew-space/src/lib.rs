//! The space model: space.yaml loading and validation (`config`), labels, desired state and the
//! pure planner (`plan`), compose/stack export (`export`), bind address → reachable URL (`net`) and token files (`tokens`). No engine
//! and no async runtime: everything here is a function of files and values.
pub mod config;
pub mod export;
pub mod net;
pub mod plan;
pub mod tokens;
