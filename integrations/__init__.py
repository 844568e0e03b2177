"""Engine-side adapters for the task-inbox dashboard.

Nothing in this package imports Django or the dashboard's apps: an engine installs it
(with its own dependencies, e.g. ``pip install 'taskinbox[litestar]'``) and talks to the
dashboard over HTTP only.
"""
