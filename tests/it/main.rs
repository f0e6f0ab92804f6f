//! Integration tests: one binary, real servers on random ports.
mod support;

mod node_lnd;
mod withdraw;
