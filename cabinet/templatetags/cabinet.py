"""Template filters and tags of the cabinet."""

from django import template

from cabinet.access import period_slug as slug_of
from cabinet.uploads import too_large_message

register = template.Library()


@register.filter
def period_slug(code: str) -> str:
    return slug_of(code)


@register.simple_tag
def upload_too_large() -> str:
    """What a curator is told when a file is over the upload limit (`cabinet.uploads`)."""
    return too_large_message()
