"""Audit-log detection benchmarks: quality on labelled panther test cases, and throughput."""
