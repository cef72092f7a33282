mod cli;
mod codecs;
mod frames;
mod hostile;
mod pydicom;
mod routes;
mod s3;
pub mod s3server;
pub mod support;
