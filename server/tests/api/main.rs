//! Integration tests: a real Concord server on a real port, real websocket
//! clients, on SQLite and on MariaDB (each test runs against both; see
//! `concord_testkit::both_databases!`).

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

mod support;

mod accounts;
mod attachments;
mod calls;
mod chat;
mod dms;
mod friends;
mod openapi;
mod realtime;
mod robustness;
mod rooms;
mod scale_out;
mod search;
mod third_party;
mod web;
