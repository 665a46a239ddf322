"""Template filters of the cabinet."""

from django import template

from cabinet.access import period_slug as slug_of

register = template.Library()


@register.filter
def period_slug(code: str) -> str:
    return slug_of(code)
