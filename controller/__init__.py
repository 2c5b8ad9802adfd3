"""Dysco control plane: per-device daemon, peer channel, management API and the ``dysco`` CLI."""
