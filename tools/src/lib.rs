//! The stream-infer developer tools: everything that runs only on a developer's machine.
//!
//! The `stream-infer` binary (`main.rs`) has one module per subcommand; the library exposes the
//! pieces the edge tests drive directly.

pub mod bench;
pub mod cli;
pub mod put;
pub mod train;
pub mod trigger;
