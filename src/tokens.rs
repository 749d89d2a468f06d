//! Participant token files (spec/gateway.md §7.3), shared by the gateway and the runner.
