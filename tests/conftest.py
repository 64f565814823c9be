"""Shared test settings: Hypothesis without wall-clock health checks (timings are noisy on 2 cores)."""

from hypothesis import HealthCheck, settings

settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                      HealthCheck.data_too_large])
settings.load_profile("ci")
