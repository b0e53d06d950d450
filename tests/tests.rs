//! One integration-test binary (see `autotests = false` in Cargo.toml).
