"""OpenAI-compatible HTTP simulator used by the tests, the demo and the benchmarks.

Start one with `tokentrail simulate` or, in-process, `tokentrail.simulator.server.start_in_thread()`;
point the SDK at its `base_url`. Endpoints: POST /v1/chat/completions, /v1/responses,
/v1/embeddings, /v1/completions; GET /v1/models.

Per-request control headers (all optional):
  x-sim-fault: 429|500|503|timeout|drop   inject this fault
  x-sim-fault-count: N                    ...only for the first N attempts with the same
  x-sim-fault-key: K                      ...fault key (so the SDK's retries can succeed)
  x-sim-retry-after: SECONDS              Retry-After sent with a 429
  x-sim-timeout: SECONDS                  how long a timeout fault holds the request
  x-sim-latency-scale: X                  override the server's latency scale for this request
"""
