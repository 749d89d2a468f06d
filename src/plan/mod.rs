//! Planning: desired state (from config) + observed engine state → ordered stages of actions.
//! Pure functions only; the text form of a plan is what `mew space up --dry-run` prints.
pub mod model;
pub use model::*;
