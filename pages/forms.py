"""Form fields both faces' filter forms share."""

from __future__ import annotations

from django import forms

from workflows.search import MAX_QUERY_LENGTH


def search_field(*, placeholder: str, label: str = "Search") -> forms.CharField:
    """The ``q`` of a list's filters: text to find (``workflows.search``), at most
    ``MAX_QUERY_LENGTH`` characters; a longer one or one holding NUL is an error the page
    shows, and the list is not filtered by it."""
    return forms.CharField(
        required=False,
        label=label,
        max_length=MAX_QUERY_LENGTH,
        error_messages={
            "max_length": "Search for at most %(limit_value)d characters "
            "(this has %(show_value)d).",
            "null_characters_not_allowed": "A search cannot hold the NUL character.",
        },
        widget=forms.TextInput(attrs={"type": "search", "placeholder": placeholder}),
    )
