//! Placeholder: filled in by the replay work of issue 6.
