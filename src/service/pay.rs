//! Pay links (being written).
