//! Live capture. (Being written.)
