//! Integration tests at the system's edges, built as one binary.

mod aws;
mod cli;
mod dead_letter;
mod degenerate_models;
mod faults;
mod fuzz;
mod golden;
mod http;
mod metrics;
mod panic;
mod parity;
mod producers;
mod properties;
mod runtime_api;
mod sqs;
mod train;
mod trigger;
mod util;
