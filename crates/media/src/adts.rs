//! Raw AAC files: a sequence of ADTS frames (ISO/IEC 14496-3 §1.A.2).
