//! The command-line suite: the built `rotad` binary driven against a server and a dbt Cloud
//! emulator started in-process by each test (SQLite, or PostgreSQL with `TEST_DATABASE_URL`).

mod helpers;

mod auth;
mod connections;
mod demo;
mod resources;
mod rotations;
mod run;
