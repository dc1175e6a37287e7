"""OpenAI-compatible HTTP simulator used by the tests, the demo and the benchmarks."""
