pub mod audit;
pub mod auth;
pub mod connections;
pub mod folders;
pub mod identities;
pub mod projects;
pub mod rotations;
pub mod secrets;
