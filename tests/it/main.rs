//! Integration tests: one binary, real servers on random ports.
mod support;

mod availability;
mod batches;
mod bounded;
mod cli;
mod cli_output;
mod db;
mod exactly_once;
mod files;
mod health;
mod input;
mod key_check;
mod key_rotate;
mod limits;
mod logs;
mod node_cln;
mod node_dev;
mod node_lnd;
mod node_switch;
mod pages;
mod pay;
mod sealing;
mod shutdown;
mod tokens;
mod webhooks;
mod withdraw;
