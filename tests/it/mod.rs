mod cli;
mod codecs;
mod frames;
mod hostile;
mod pydicom;
mod routes;
pub mod support;
