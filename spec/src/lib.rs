//! The stateright protocol model (being written).
