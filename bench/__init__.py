"""Benchmarks run by `make bench`: each module here with a `main(argv)` is one part of the run."""
