//! Load generators. `gateway`: one sender and N receivers in one space over loopback, measuring
//! deliveries per second and delivery latency, against mew's own gateway and optionally a peer.
pub mod gateway;
pub mod stats;
