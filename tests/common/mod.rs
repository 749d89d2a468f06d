// Shared test harnesses; each test binary uses only some of them.
#![allow(dead_code)]

pub mod engine;
pub mod gateway;
pub mod participant;
pub mod process;
pub mod standalone;
