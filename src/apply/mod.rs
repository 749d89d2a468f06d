//! See lib.rs for what this module holds.
