"""Running the service: worker threads, metrics, health, limits, system checks, start-up and shutdown."""
