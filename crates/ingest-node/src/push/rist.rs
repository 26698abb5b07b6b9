//! RIST push slot.
