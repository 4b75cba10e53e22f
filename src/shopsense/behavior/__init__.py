"""Customer behaviour: the customer view, segments, anomalies and what customers do next."""
