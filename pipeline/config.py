"""svod's settings: where a workspace keeps its files, the key it signs with, the reference data it uses and how
much memory DuckDB may take. The one place that reads svod's environment variables.

A workspace (`--home DIR`, else SVOD_HOME, else ./svod_home) holds the inbox staff drop returns into, the
content-addressed archive, the outbox of answers to schools, published summaries and the DuckDB warehouse.
Templates and summaries are signed with SVOD_SIGNING_KEY; there is no default key, except in a workspace made
by `svod demo` (marked by a file), which uses the published demo key. The workspace carries the reference data it
is worked with (`Workspace.reference`); nothing else selects it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel

from pipeline.reference import Issuer, Reference, load_reference
from pipeline.store.warehouse import DEFAULT_MEMORY, connect
from pipeline.xlsx.container import MAX_FILE_BYTES

DEMO_SIGNING_KEY = "svod-demo-signing-key"  # only for workspaces made by `svod demo`, and for tests
DEMO_MARKER = ".svod-demo"
DATABASE = "svod.duckdb"
WORKSPACE_ENVIRONMENT = {
    "home": "SVOD_HOME",
    "signing_key": "SVOD_SIGNING_KEY",
    "reference_dir": "SVOD_REFERENCE_DIR",
    "duckdb_memory": "SVOD_DUCKDB_MEMORY",
}
CABINET_ENVIRONMENT = {
    "secret_key": "SVOD_SECRET_KEY",
    "cabinet_database": "SVOD_CABINET_DATABASE",
    "allowed_hosts": "SVOD_ALLOWED_HOSTS",
    "public_url": "SVOD_PUBLIC_URL",
    "time_zone": "SVOD_TIME_ZONE",
    "smtp_host": "SVOD_SMTP_HOST",
    "smtp_port": "SVOD_SMTP_PORT",
    "smtp_security": "SVOD_SMTP_SECURITY",
    "smtp_user": "SVOD_SMTP_USER",
    "smtp_password": "SVOD_SMTP_PASSWORD",
    "mail_from": "SVOD_MAIL_FROM",
    "proxies": "SVOD_PROXIES",
    "staff_two_factor": "SVOD_STAFF_TWO_FACTOR",
}
SERVER_ENVIRONMENT = {
    "dagster_database": "SVOD_DAGSTER_DATABASE"
}  # production: Dagster's storage on PostgreSQL
ENVIRONMENT = (
    WORKSPACE_ENVIRONMENT | CABINET_ENVIRONMENT | SERVER_ENVIRONMENT
)  # every setting svod reads, by name
SMTP_SECURITY = ("starttls", "ssl", "none")


class NoSigningKey(RuntimeError):
    """Raised where a key is needed and none is set; the message is for staff."""


def from_environment(name: str) -> str | None:
    """A setting's value from its environment variable (see ENVIRONMENT), or None."""
    return os.environ.get(ENVIRONMENT[name]) or None


class Workspace(BaseModel):
    home: Path
    signing_key: str | None = None
    reference_dir: Path | None = None
    duckdb_memory: str = DEFAULT_MEMORY

    @staticmethod
    def locate(home: str | Path | None = None) -> Path:
        """The workspace folder `home` names (else SVOD_HOME, else ./svod_home), without creating anything."""
        return Path(home or from_environment("home") or "svod_home").resolve()

    @classmethod
    def resolve(
        cls,
        home: str | Path | None = None,
        signing_key: str | None = None,
        reference_dir: str | Path | None = None,
        duckdb_memory: str | None = None,
        create: bool = True,
    ) -> Workspace:
        """The workspace at `home` (its folders made, unless `create` is false); unset settings come from the
        environment."""
        root = cls.locate(home)
        demo_key = DEMO_SIGNING_KEY if (root / DEMO_MARKER).exists() else None
        ws = cls(
            home=root,
            signing_key=signing_key or from_environment("signing_key") or demo_key,
            reference_dir=reference_dir or from_environment("reference_dir"),
            duckdb_memory=duckdb_memory or from_environment("duckdb_memory") or DEFAULT_MEMORY,
        )
        for folder in (ws.inbox, ws.archive, ws.outbox, ws.out, ws.templates) if create else ():
            folder.mkdir(parents=True, exist_ok=True)
        return ws

    @property
    def key(self) -> str:
        """The signing key; stops with a message for staff when none is set."""
        if not self.signing_key:
            raise NoSigningKey(
                "Не задан ключ подписи шаблонов и сводок. Укажите его в переменной окружения "
                "SVOD_SIGNING_KEY (один и тот же ключ для выпуска шаблонов и приёма отчётов)."
            )
        return self.signing_key

    @property
    def reference(self) -> Reference:
        """The reference data this workspace is worked with: its region's folder, else the bundled sample."""
        return load_reference(self.reference_dir)

    @property
    def issuer(self) -> Issuer:
        """What files handed in here are checked against; stops with a message for staff when no key is set."""
        return Issuer(self.key, self.reference_dir)

    def connect(self, read_only: bool = False, wait: float | None = None):
        """The warehouse; `wait` seconds for another process holding it (default: the warehouse's own wait)."""
        return connect(self.database, read_only, self.duckdb_memory, wait, self.reference)

    @property
    def inbox(self) -> Path:
        return self.home / "inbox"

    @property
    def archive(self) -> Path:
        return self.home / "archive"

    @property
    def journal(self) -> Path:
        """Inputs of every published run (JSON per run id), kept with the archive for re-issue and rebuild."""
        return self.archive / "runs"

    @property
    def outbox(self) -> Path:
        return self.home / "outbox"

    @property
    def out(self) -> Path:
        return self.home / "out"

    @property
    def templates(self) -> Path:
        return self.home / "templates"

    @property
    def database(self) -> Path:
        return self.home / DATABASE


CABINET_SECRET = ".cabinet-secret"  # in the workspace: the cabinet's generated secret key, when none is set


class CabinetSettings(BaseModel):
    """What the cabinet's Django settings take from the environment, with embedded defaults: SQLite in the
    workspace, a generated secret key kept there, mail written to files (no SVOD_SMTP_HOST), answering on the
    loopback only."""

    secret_key: str
    database: dict
    allowed_hosts: list[str]
    trusted_origins: list[str]
    public_url: str
    secure_cookies: bool
    time_zone: str
    email_backend: str
    smtp_host: str
    smtp_port: int
    smtp_security: str
    smtp_user: str
    smtp_password: str
    mail_from: str
    upload_limit_bytes: int = MAX_FILE_BYTES
    proxies: int = 0  # reverse proxies in front of the cabinet (nginx: 1), whose X-Forwarded-For is believed
    staff_two_factor: bool = False  # staff sign in with a code from an app too (cabinet.twofactor)


def prepare_cabinet(home: Path) -> None:
    """What the cabinet needs in the workspace before Django starts: its folder and, when SVOD_SECRET_KEY is not
    set, a generated secret key readable by the service only. Reading the settings creates nothing."""
    (home / "cabinet").mkdir(parents=True, exist_ok=True)
    stored = home / CABINET_SECRET
    if from_environment("secret_key") is None and not stored.exists():
        stored.write_text(secrets.token_urlsafe(48))
        stored.chmod(0o600)


def cabinet_settings(home: Path) -> CabinetSettings:
    """The cabinet's settings for the workspace at `home` (prepared by `prepare_cabinet`)."""
    secret = from_environment("secret_key")
    if secret is None:
        stored = home / CABINET_SECRET
        if not stored.exists():
            raise ValueError(
                f"Кабинет не подготовлен в рабочей папке {home}: запустите его командой svod serve "
                "(или задайте SVOD_SECRET_KEY)."
            )
        secret = stored.read_text().strip()
    public_url = (from_environment("public_url") or "http://127.0.0.1:8000").rstrip("/")
    hosts = (
        from_environment("allowed_hosts") or f"127.0.0.1,localhost,{urlsplit(public_url).hostname}"
    ).split(",")
    smtp_host = from_environment("smtp_host")
    security = from_environment("smtp_security") or "none"
    if security not in SMTP_SECURITY:
        raise ValueError(f"SVOD_SMTP_SECURITY: ожидается {', '.join(SMTP_SECURITY)}, а не «{security}»")
    return CabinetSettings(
        secret_key=secret,
        database=database_settings(from_environment("cabinet_database"), home),
        allowed_hosts=sorted({h.strip() for h in hosts if h.strip()}),
        trusted_origins=[public_url],
        public_url=public_url,
        proxies=from_environment("proxies") or 0,
        staff_two_factor=from_environment("staff_two_factor") or public_url.startswith("https://"),
        secure_cookies=public_url.startswith("https://"),
        time_zone=from_environment("time_zone") or "Europe/Moscow",
        email_backend="django.core.mail.backends.smtp.EmailBackend"
        if smtp_host
        else "django.core.mail.backends.filebased.EmailBackend",
        smtp_host=smtp_host or "localhost",
        smtp_port=int(from_environment("smtp_port") or 25),
        smtp_security=security,
        smtp_user=from_environment("smtp_user") or "",
        smtp_password=from_environment("smtp_password") or "",
        mail_from=from_environment("mail_from") or "svod@localhost",
    )


def database_settings(url: str | None, home: Path) -> dict:
    """Django's database entry: `postgresql://user:password@host:port/name`, else SQLite in the workspace."""
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": home / "cabinet" / "cabinet.sqlite3",
            "CONN_MAX_AGE": 600,
            "CONN_HEALTH_CHECKS": True,  # one connection per server thread, not per request
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError(
            f"SVOD_CABINET_DATABASE: ожидается адрес вида postgresql://пользователь:пароль@сервер/база, а не «{parts.scheme}://…»"
        )
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": unquote(parts.username or ""),  # percent-encoded as in any URL (a password with @ or /),
        "PASSWORD": unquote(parts.password or ""),  # as Dagster decodes SVOD_DAGSTER_DATABASE
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,  # a connection the server dropped (restarted, away) is not reused
    }
