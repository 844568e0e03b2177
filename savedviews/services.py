"""Writes: save, rename and delete a person's views (forms have validated the input)."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Max

from savedviews.models import SavedView


class NameTaken(Exception):
    """Another request took the name between the form's check and the write."""


def save_view(*, user: User, page: str, name: str, query: str) -> SavedView:
    try:
        with transaction.atomic():
            last = SavedView.objects.filter(owner=user).aggregate(m=Max("position"))["m"]
            return SavedView.objects.create(
                owner=user,
                page=page,
                name=name,
                query=query,
                position=0 if last is None else last + 1,
            )
    except IntegrityError as exc:
        raise NameTaken(name) from exc


def rename_view(*, view: SavedView, name: str) -> SavedView:
    view.name = name
    try:
        with transaction.atomic():
            view.save(update_fields=["name", "updated_at"])
    except IntegrityError as exc:
        raise NameTaken(name) from exc
    return view


def delete_view(*, view: SavedView) -> None:
    view.delete()
