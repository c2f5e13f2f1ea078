"""The admin's login page, under the staff sign-in budget the staff API spends (chat.limits).

Both doors take a Django staff password, so a guesser would use whichever is not limited: every
attempt at either counts against one bucket per address and one per username
(``staff_sign_in_wait_secs``), before the password is hashed. A refused attempt hashes nothing
and gets the login page again, with the wait in words, as HTTP 429 with ``Retry-After``.

Hand-written rather than django-axes: axes would keep a second record of attempts in the
database (a write per attempt, and a lockout policy of its own to configure and document) beside
the buckets the staff API already has, shared across processes through Redis the same way; the
two doors could then disagree about how many guesses one address has left.
"""

from __future__ import annotations

import math

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse

from chat.limits import staff_sign_in_wait_secs
from chat.protocol import retry_after_header
from chat.shared_limits import LimitsUnavailable


class StaffSignInForm(AdminAuthenticationForm):
    """The admin's login form, which spends the staff sign-in budget before it checks a password."""

    refused_status: int | None = None  # 429 or 503 when the attempt was refused unchecked
    retry_after_secs: float = 0.0

    def clean(self):
        username, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
        if username is not None and password:  # what Django's form needs to try the password
            # The visitor, behind proxies too (the admin's login view always passes its request).
            ip = (self.request.META.get("REMOTE_ADDR") if self.request else None) or "unknown"
            try:
                wait = staff_sign_in_wait_secs(ip=ip, username=username)
            except LimitsUnavailable as unavailable:
                self.refused_status, self.retry_after_secs = 503, unavailable.retry_after_secs
                raise ValidationError(
                    "Sign-in is unavailable for a moment (the server cannot check its limits). "
                    f"Try again in {math.ceil(self.retry_after_secs)} seconds.",
                    code="limits_unavailable",
                ) from None
            if wait:
                self.refused_status, self.retry_after_secs = 429, wait
                raise ValidationError(
                    "Too many sign-in attempts from this address or for this username. "
                    f"Try again in {math.ceil(wait)} seconds.",
                    code="rate_limited",
                )
        return super().clean()


def admin_login(request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
    """The admin's own login view (``admin.site.login``, which uses ``StaffSignInForm``), with the
    status of a refused attempt: 429 (or 503) and Retry-After instead of 200."""
    response = admin.site.login(request, extra_context)
    form = (getattr(response, "context_data", None) or {}).get("form")
    if isinstance(form, StaffSignInForm) and form.refused_status is not None:
        response.status_code = form.refused_status
        response["Retry-After"] = retry_after_header(form.retry_after_secs)
    return response
