"""har-inventory: Docker image inventory reports from a Harness Artifact Registry (HAR)."""

__version__ = "0.1.0"
