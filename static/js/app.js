// The project's own behaviour; htmx itself comes from django-htmx.
