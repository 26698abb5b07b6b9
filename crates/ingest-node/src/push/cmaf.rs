//! CMAF push slot.
