"""The cabinet as a WSGI application, served by gunicorn (`cabinet/gunicorn_conf.py`, which names its settings
module); any WSGI server that sets DJANGO_SETTINGS_MODULE can serve it."""

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()
