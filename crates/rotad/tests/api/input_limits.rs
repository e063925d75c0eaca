//! Security hardening (docs/SECURITY.md): see the tests below.
