"""The cabinet as a WSGI application, for `svod serve` (waitress) or any WSGI server in production."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cabinet.settings")
application = get_wsgi_application()
