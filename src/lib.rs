//! depthlab: see and measure the problems with depth in neural networks on
//! a CPU, in seconds.
//!
//! The pipeline, one module per stage: spec text → [`spec`] → [`graph`] →
//! [`compile`] ([`plan`]) → [`exec`] → [`stats`] → [`report`]; [`dataset`]
//! gives the data, [`train`] runs training and builds every executor, and
//! [`commands`] are the subcommands `main` calls.

// Errors carry their context (file, line text, help) by value; they are
// built once, on the way out, so their size costs nothing worth boxing for.
#![allow(clippy::result_large_err)]
#![warn(clippy::too_many_lines)]

pub mod arena;
pub mod commands;
pub mod compile;
pub mod dataset;
pub mod error;
pub mod examples;
pub mod exec;
pub mod files;
pub mod graph;
pub mod init;
pub mod linalg;
pub mod plan;
pub mod poly;
pub mod report;
pub mod spec;
pub mod stats;
pub mod sweep;
pub mod train;
