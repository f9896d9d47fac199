"""Benchmarking on a board: a Session takes artifacts and runtimes to a Board, runs the runner, validates its
output against host NCNN and hands each RunResult to the store."""
