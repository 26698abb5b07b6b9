//! Push engine slot.
