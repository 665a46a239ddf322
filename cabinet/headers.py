"""Response headers for what is personal: every page and download a signed-in account sees is kept by no cache
(`Cache-Control: no-store`), so a shared computer or a proxy never hands it to the next person."""

from __future__ import annotations

from django.utils.cache import add_never_cache_headers


class PrivateResponses:
    """Adds Django's never-cache headers (`no-store` among them) to every response to a signed-in account."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            add_never_cache_headers(response)
        return response
