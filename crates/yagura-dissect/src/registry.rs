//! The protocol registry. (Being written.)
