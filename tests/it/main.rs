//! Integration tests: one binary, real servers on random ports.
mod support;

mod availability;
mod bounded;
mod cli;
mod db;
mod health;
mod node_dev;
mod node_lnd;
mod pages;
mod pay;
mod webhooks;
mod withdraw;
