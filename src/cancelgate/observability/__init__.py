"""What operators watch: traces and metrics."""
