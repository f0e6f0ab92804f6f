//! Integration tests: one binary, real servers on random ports.
mod support;

mod availability;
mod cli;
mod db;
mod exactly_once;
mod health;
mod node_dev;
mod node_lnd;
mod pages;
mod pay;
mod webhooks;
mod withdraw;
