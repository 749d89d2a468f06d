//! See lib.rs for what this module holds.
pub mod clean;
pub mod events;
pub mod exec;
pub mod inspect;
pub mod logs;
pub mod restart;
