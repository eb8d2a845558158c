//! Placeholder: filled in by the drivers work of issue 6.
