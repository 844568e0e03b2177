"""The JSON API (django-ninja), depending on the core only."""
