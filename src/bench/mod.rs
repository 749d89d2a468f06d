//! Load generators. `gateway`: one sender and N receivers in one space over loopback, measuring
//! deliveries per second and delivery latency, against mew's own gateway and optionally a peer.
//! `limits`: the gateway's peak memory under the worst inputs found.
pub(crate) mod gateway;
pub(crate) mod limits;
pub(crate) mod stats;
