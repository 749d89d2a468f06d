//! The space model: labels, roles, container states and the observed container (`model`, the
//! bottom layer), space.yaml loading and validation (`config`), desired state and the pure
//! planner (`plan`), compose/stack export (`export`) and token files (`tokens`). No engine
//! and no async runtime: everything here is a function of files and values.
pub mod config;
pub mod export;
pub mod model;
pub mod plan;
pub mod tokens;
