"""Example engine apps that talk to the dashboard."""
