//! The API suite: a real server in-process on port 0 with a fresh database (SQLite, or
//! PostgreSQL when `TEST_DATABASE_URL` is set), driven over HTTP.

mod helpers;

mod audit;
mod auth;
mod bootstrap;
mod chaos;
mod client_address;
mod connection_access;
mod connection_options;
mod connection_privilege;
mod connections;
mod crash;
mod crash_sweeps;
mod encryption;
mod engine_leases;
mod engine_races;
mod envelope;
mod exposure;
mod files;
mod identities_upstream;
mod input_limits;
mod login_guard;
mod memberships;
mod permissions;
mod process;
mod replicas;
mod roles;
mod rotation_fault_kinds;
mod rotation_faults;
mod rotation_patch;
mod rotation_support;
mod rotations;
mod route_budget;
mod scheduler;
mod secrets;
mod slow_clients;
mod statement_budget;
mod statements;
mod token_rules;
mod universal_auth_upstream;
mod webhook_sink;
mod webhooks;
