//! async-std
