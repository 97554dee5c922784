//! Integration tests: one binary (see STYLE.md). Library-level tests drive `Enroller`
//! directly; `server`, `scepclient` and `certmonger` run the real binary on loopback, the
//! latter two with the real Debian clients.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod approval;
mod certmonger;
mod cli;
mod durability;
mod enroll;
mod fixtures;
mod fuzz_corpus;
mod http;
mod links;
mod profiles;
mod renewal;
mod revocation;
mod scepclient;
mod support;
