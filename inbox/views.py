from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from inbox import selectors


@login_required
def home(request: HttpRequest) -> HttpResponse:
    instances = selectors.visible_instances(user=request.user).order_by("-last_event_at")[:50]
    return render(request, "inbox/home.html", {"instances": instances})
