"""The GenAI client histograms, with the semantic-convention units and bucket boundaries.

Created through the OpenTelemetry metrics API on the meter provider given to `instrument()`
(or the global one), so they cost nothing until an application installs an SDK MeterProvider.
The boundaries are passed as advisory explicit buckets, as the conventions recommend.
"""

from __future__ import annotations

from typing import Any

from tokentrail.instrumentation import semconv as sc
from tokentrail.instrumentation.calls import Instruments

from tokentrail._version import __version__

TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TTFC_BUCKETS = DURATION_BUCKETS


def create_instruments(meter_provider: Any) -> Instruments:
    meter = meter_provider.get_meter("tokentrail.instrumentation", __version__)
    return Instruments(
        token_usage=meter.create_histogram(
            sc.METRIC_TOKEN_USAGE, unit="{token}", description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=list(TOKEN_BUCKETS)),
        duration=meter.create_histogram(
            sc.METRIC_DURATION, unit="s", description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS)),
        ttfc=meter.create_histogram(
            sc.METRIC_TTFC, unit="s",
            description="Time to receive the first chunk of a streamed response.",
            explicit_bucket_boundaries_advisory=list(TTFC_BUCKETS)),
    )
