"""Response headers the browser enforces: a Content-Security-Policy on every response (scripts, styles and
everything else only from the cabinet itself, no inline script or style, no framing, forms posted only here), and
for what is personal, every page and download a signed-in account sees, no cache (`Cache-Control: no-store`), so a
shared computer or a proxy never hands it to the next person. HSTS and the other transport headers are Django's
SecurityMiddleware's (settings: `SECURE_HSTS_SECONDS` when served over https).
"""

from __future__ import annotations

from django.utils.cache import add_never_cache_headers

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ResponseHeaders:
    """Adds the Content-Security-Policy to every response, and Django's never-cache headers (`no-store` among
    them) to every response to a signed-in account."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            add_never_cache_headers(response)
        return response
