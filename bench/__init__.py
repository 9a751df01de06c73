"""The benchmark suite (`make bench`): real processes on 127.0.0.1, pinned to cores."""
