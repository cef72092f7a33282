//! Integration tests: one binary, so the build is paid once. Each module starts the real
//! server on 127.0.0.1:0 over a temp folder and speaks HTTP to it.

mod it;
