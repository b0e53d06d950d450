//! What is decided before anything runs: the command line, and the checks
//! that turn a configuration that cannot work into one error line at start
//! (topic filters outside the prefix, a password file that is empty, TLS
//! files that are not PEM).

pub mod cli;
pub mod client_id;
pub mod delivery;
pub mod duplicate_cadline;
pub mod manual;
pub mod password;
pub mod telegraf_agent;
pub mod telegraf_parent;
pub mod tls_files;
pub mod topic_filter;
pub mod trial_run;
