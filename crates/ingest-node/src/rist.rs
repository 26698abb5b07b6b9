//! RIST input slot.
