//! The examples are in this folder; this library is empty.
