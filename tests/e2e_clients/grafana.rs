//! Placeholder: filled in by the grafana work of issue 6.
