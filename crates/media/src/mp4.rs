//! MP4 reading: progressive (`moov`/`stbl`) and fragmented (`moof`/`traf`) files (ISO/IEC 14496-12).
