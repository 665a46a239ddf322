"""Django settings of the cabinet: what is the same everywhere, as module constants, and what varies with the
workspace (`for_workspace`), from `pipeline.config` (the one place that reads svod's environment): the workspace,
the cabinet's database, the secret key, the hosts it answers and the mail server. The defaults are embedded:
SQLite in the workspace, mail into files. `cabinet.setup.start` configures Django with both for a given
workspace; `cabinet.served_settings` is the settings module of a server (gunicorn) and the tests.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.config import Workspace, cabinet_settings

BASE_DIR = Path(__file__).resolve().parent
DEBUG = False  # never a debug page, in any mode a user can reach

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "cabinet.apps.LoginPauses",  # axes, named in Russian
    "django_otp",
    "cabinet.apps.SecondFactor",  # django_otp.plugins.otp_totp
    "django_tasks",
    "cabinet.apps.MailQueue",  # django_tasks_db
    "cabinet",
]
TASKS = {
    "default": {"BACKEND": "django_tasks_db.DatabaseBackend"}
}  # the mail queue, in the cabinet's database
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "cabinet.uploads.RefuseOversizedUploads",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "cabinet.twofactor.StaffSecondFactor",
    "cabinet.headers.ResponseHeaders",
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
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "ru"
LANGUAGES = [("ru", "Русский")]
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

# uploads: the size limit (UPLOAD_LIMIT_BYTES) applies before the body is read (RefuseOversizedUploads), files
# stay in memory
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
FILE_UPLOAD_HANDLERS = ["cabinet.uploads.LimitedUploadHandler"]

AXES_FAILURE_LIMIT = 5  # failed logins per username and address, then a pause
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/locked.html"
AXES_VERBOSE = False
AXES_CLIENT_IP_CALLABLE = "cabinet.limits.client_address"
ADDRESS_FAILURE_LIMIT = (
    20  # failed logins from one address across usernames within the pause, then a pause too
)
UPLOADS_PER_HOUR = 30  # uploads one account may make in an hour
SCHOOL_STORAGE_BYTES = 1024**3  # the files an ОО may keep in the cabinet, all its versions together
OTP_TOTP_ISSUER = "svod"  # the name the authenticator app shows
RETURN_DAYS = (
    7  # a report returned after its deadline gets a new one this many days on, unless staff give one
)
HSTS_SECONDS = 365 * 24 * 3600  # browsers keep to https for a year once the cabinet is served over https

EMAIL_TIMEOUT = 30

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"one_line": {"()": "cabinet.logs.OneLine"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "one_line"}},
    "loggers": {
        "django": {"handlers": ["console"], "level": "WARNING"},
        "cabinet": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}


def for_workspace(ws: Workspace) -> dict:
    """The settings that vary with the workspace and the machine (its cabinet prepared: `prepare_cabinet`)."""
    varying = cabinet_settings(ws.home)
    return {
        "WORKSPACE": ws,
        "SECRET_KEY": varying.secret_key,
        "ALLOWED_HOSTS": varying.allowed_hosts,
        "CSRF_TRUSTED_ORIGINS": varying.trusted_origins,
        "DATABASES": {"default": varying.database},
        "TIME_ZONE": varying.time_zone,
        "SESSION_COOKIE_SECURE": varying.secure_cookies,
        "CSRF_COOKIE_SECURE": varying.secure_cookies,
        "UPLOAD_LIMIT_BYTES": varying.upload_limit_bytes,
        "FILE_UPLOAD_MAX_MEMORY_SIZE": varying.upload_limit_bytes,
        "EMAIL_BACKEND": varying.email_backend,
        "EMAIL_FILE_PATH": ws.home / "cabinet" / "mail",
        "EMAIL_HOST": varying.smtp_host,
        "EMAIL_PORT": varying.smtp_port,
        "EMAIL_USE_TLS": varying.smtp_security == "starttls",
        "EMAIL_USE_SSL": varying.smtp_security == "ssl",
        "EMAIL_HOST_USER": varying.smtp_user,
        "EMAIL_HOST_PASSWORD": varying.smtp_password,
        "DEFAULT_FROM_EMAIL": varying.mail_from,
        "MAIL_CONFIGURED": varying.email_backend.endswith("smtp.EmailBackend"),  # else mail goes to files
        "PUBLIC_URL": varying.public_url,
        "PROXIES": varying.proxies,
        "SECURE_HSTS_SECONDS": HSTS_SECONDS if varying.secure_cookies else 0,
        "STAFF_TWO_FACTOR": varying.staff_two_factor,
    }


def of_workspace(ws: Workspace) -> dict:
    """Every setting of the cabinet for the workspace."""
    return {name: value for name, value in globals().items() if name.isupper()} | for_workspace(ws)
