"""Django settings of the cabinet. Everything that varies between machines comes from `pipeline.config`
(the one place that reads svod's environment): the workspace, the cabinet's database, the secret key, the
hosts it answers and the mail server. The defaults are embedded: SQLite in the workspace, mail into files.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.config import Workspace, cabinet_settings

WORKSPACE = Workspace.resolve(create=False)  # made, with the cabinet's secret, by `cabinet.setup.start`
_settings = cabinet_settings(WORKSPACE.home)

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = _settings.secret_key
DEBUG = False  # never a debug page, in any mode a user can reach
ALLOWED_HOSTS = _settings.allowed_hosts
CSRF_TRUSTED_ORIGINS = _settings.trusted_origins

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
    "cabinet",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "cabinet.uploads.RefuseOversizedUploads",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "cabinet.headers.PrivateResponses",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
ROOT_URLCONF = "cabinet.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "cabinet.access.role_context",
            ]
        },
    }
]
WSGI_APPLICATION = "cabinet.wsgi.application"
DATABASES = {"default": _settings.database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "ru"
LANGUAGES = [("ru", "Русский")]
TIME_ZONE = _settings.time_zone
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
WHITENOISE_USE_FINDERS = True  # serve the packaged static files without a collectstatic step
STORAGES = {
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_AGE = 8 * 3600  # a working day; then the session expires
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = _settings.secure_cookies
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "cabinet.errors.csrf_failure"
SECURE_CONTENT_TYPE_NOSNIFF = True
PASSWORD_RESET_TIMEOUT = 7 * 24 * 3600  # an invitation link stays valid a week
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# uploads: the size limit applies before the body is read (RefuseOversizedUploads), files stay in memory
UPLOAD_LIMIT_BYTES = _settings.upload_limit_bytes
FILE_UPLOAD_MAX_MEMORY_SIZE = UPLOAD_LIMIT_BYTES
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
FILE_UPLOAD_HANDLERS = ["cabinet.uploads.LimitedUploadHandler"]

AXES_FAILURE_LIMIT = 5  # failed logins per username and address, then a pause
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/locked.html"
AXES_VERBOSE = False

EMAIL_BACKEND = _settings.email_backend
EMAIL_FILE_PATH = WORKSPACE.home / "cabinet" / "mail"
EMAIL_HOST, EMAIL_PORT = _settings.smtp_host, _settings.smtp_port
EMAIL_USE_TLS, EMAIL_USE_SSL = _settings.smtp_security == "starttls", _settings.smtp_security == "ssl"
EMAIL_HOST_USER, EMAIL_HOST_PASSWORD = _settings.smtp_user, _settings.smtp_password
EMAIL_TIMEOUT = 30
DEFAULT_FROM_EMAIL = _settings.mail_from
MAIL_CONFIGURED = _settings.email_backend.endswith(
    "smtp.EmailBackend"
)  # else notices are written to EMAIL_FILE_PATH
PUBLIC_URL = _settings.public_url

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django": {"handlers": ["console"], "level": "WARNING"}},
}
