//! Integration tests at the system's edges, built as one binary.

mod cli;
mod golden;
mod properties;
mod util;
