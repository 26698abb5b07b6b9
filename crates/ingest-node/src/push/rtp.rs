//! Push target module slot.
