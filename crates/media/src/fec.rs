//! ProMPEG / SMPTE 2022-1 FEC slot.
