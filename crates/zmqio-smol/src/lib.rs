//! smol
