//! Placeholder: filled in by the auth work of issue 6.
