//! Call machine tests (added below).
