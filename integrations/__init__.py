"""Engine-side adapters for the task-inbox dashboard.

Nothing in this package imports Django or the dashboard's apps: an engine puts it on its
path (with its dependencies, e.g. ``pip install litestar-workflows==0.3.3 httpx``) and
talks to the dashboard over HTTP only.
"""
