//! Page data (being written).
