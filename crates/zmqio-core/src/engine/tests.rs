//! Engine unit tests against the fake backend.
