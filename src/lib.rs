//! certdrop: an enterprise certificate enrollment service.
//!
//! ```text
//!   http (actix)  ──>  enroll  ──>  ca  (policy, issuing; the only place that decides)
//!                        │    ├──>  store (trait; sled by default; decides nothing)
//!                        │    └──>  scep  (RFC 8894 codec; pure, no I/O)
//!   cli ──> admin (local socket to the running server, or the store directly)
//! ```

pub mod admin;
pub mod apple;
pub mod backup;
pub mod ca;
pub mod cli;
pub mod commands;
pub mod config;
pub mod enroll;
pub mod http;
pub mod links;
pub mod ocsp;
pub mod profiles;
pub mod revocation;
pub mod scep;
pub mod server;
pub mod store;
