//! The command-line suite: the built `rotad` binary driven against a server and a dbt Cloud
//! emulator started in-process by each test.
