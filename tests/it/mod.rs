mod cli;
mod codecs;
mod frames;
mod hostile;
mod routes;
pub mod support;
