"""svod commands for the server: `svod serve` runs the cabinet with every service, `svod service` one of them
for systemd, `svod users` manages accounts created from the school registry, `svod backup` and `svod restore`
copy a whole installation."""

from __future__ import annotations

import csv
import errno
import os
import signal
import socket
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import typer
from rich.table import Table

from pipeline import in_process
from pipeline.cli import HOME, PERIOD, WrongInput, app, command, console, existing, reference_of, targets
from pipeline.config import ENVIRONMENT, Workspace
from pipeline.files import atomic_write
from pipeline.isolation import end_with_parent

users_app = typer.Typer(
    help="Учётные записи кабинета: школы, методисты, регионы, администраторы.", no_args_is_help=True
)
app.add_typer(users_app, name="users")
ROLES = {
    "school": "ОО (код ОО)",
    "methodist": "методист (код муниципалитета)",
    "region": "регион (код региона)",
    "admin": "администратор",
}
WEB_PROCESSES = (
    2  # processes answering the cabinet's requests: while one receives uploads, the other serves pages
)
STOP_SECONDS = 30  # how long a stopping server waits for its worker and services before killing them


HOST = typer.Option("127.0.0.1", help="Адрес, на котором отвечает кабинет.")
PORT = typer.Option(8000, help="Порт кабинета.")
THREADS = typer.Option(8, help="Сколько запросов обслуживает одновременно каждый процесс.")
PROCESSES = typer.Option(WEB_PROCESSES, min=1, help="Сколько процессов отвечает на запросы.")
DAGSTER_PORT = typer.Option(3000, help="Порт веб-интерфейса Dagster.")
CODE_PORT = 4266  # the Dagster code server's port on 127.0.0.1 in production (deploy/)
CODE_WAIT_SECONDS = 180  # how long the daemon and webserver wait for the code server before starting anyway


@command
def serve(
    home: Path = HOME,
    host: str = HOST,
    port: int = PORT,
    threads: int = THREADS,
    processes: int = PROCESSES,
    all_services: bool = typer.Option(
        False,
        "--all",
        help="Вместе с кабинетом запустить и веб-интерфейс Dagster (код и демон Dagster запускаются всегда).",
    ),
    dagster_port: int = DAGSTER_PORT,
    code_port: int = typer.Option(0, help="Порт сервера кода Dagster на 127.0.0.1 (0 — любой свободный)."),
) -> None:
    """Запустить кабинет svod (веб-приложение для школ и методистов), его фоновые службы и демон Dagster; с --all — и веб-интерфейс Dagster."""
    ws = Workspace.resolve(home)
    env = prepare(ws)
    refuse_taken_port(host, port)
    code_port = code_port or free_loopback_port()
    listed = server_processes(ws, host, port, processes, threads, all_services, dagster_port, code_port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stopped by a service manager: stop the others too
    console.print(
        f"Кабинет: http://{host}:{port}/  (остановить — Ctrl+C). Рабочая папка: {ws.home}", soft_wrap=True
    )
    if all_services:
        console.print(f"Dagster: http://127.0.0.1:{dagster_port}/")
    running: dict[str, subprocess.Popen] = {}
    try:
        supervise(listed, env, running, code_port)
    finally:
        for child in running.values():
            child.terminate()
        for child in running.values():
            try:
                child.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                # a run that does not stop in time: killed runs are finished on restart
                child.kill()
                child.wait()


@command
def service(
    name: str = typer.Argument(
        ..., help="prepare, web, worker, mail, code, daemon или webserver (как в deploy/svod-*.service)."
    ),
    home: Path = HOME,
    host: str = HOST,
    port: int = PORT,
    threads: int = THREADS,
    processes: int = PROCESSES,
    dagster_port: int = DAGSTER_PORT,
    code_port: int = typer.Option(CODE_PORT, help="Порт сервера кода Dagster на 127.0.0.1."),
) -> None:
    """Запустить одну службу svod — так их запускает systemd, каждую своим юнитом (deploy/). prepare — подготовить базы данных перед остальными."""
    ws = Workspace.resolve(home)
    if name == "prepare":
        prepare(ws)
        console.print(f"Базы данных svod готовы. Рабочая папка: {ws.home}", soft_wrap=True)
        return
    listed = dict(server_processes(ws, host, port, processes, threads, True, dagster_port, code_port))
    if name not in listed:
        raise WrongInput(f"Нет службы «{name}». Службы: prepare, {', '.join(listed)}.")
    if name in WAIT_FOR_CODE and not port_answers(code_port, CODE_WAIT_SECONDS):
        console.print(
            f"[yellow]Сервер кода Dagster (порт {code_port}) не отвечает; запускаю «{name}».[/yellow]"
        )
    argv = listed[name]
    os.execve(argv[0], argv, server_environment(ws))


def prepare(ws: Workspace) -> dict:
    """Before a server's processes start: the signing key there, the cabinet's database migrated, Dagster's
    storage made or migrated once, before its processes share it. Returns the processes' environment."""
    from cabinet.setup import start

    ws.key  # noqa: B018 — uploads are checked against signed templates: stop now when there is no key
    start(ws.home)
    in_process.migrated_instance(ws)
    return server_environment(ws)


def server_environment(ws: Workspace) -> dict:
    return {
        **os.environ,
        ENVIRONMENT["home"]: str(ws.home),
        ENVIRONMENT["signing_key"]: ws.key,
        "DAGSTER_HOME": str(in_process.write_instance_settings(ws)),
    }


WAIT_FOR_CODE = (
    "daemon",
    "webserver",
)  # they dequeue runs and load code from the code server: after it answers


def port_answers(port: int, seconds: float) -> bool:
    """Whether something answers on 127.0.0.1:`port` within `seconds` (the code server, once it has loaded)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.5)
    return False


RESTART_PAUSE_SECONDS = 2  # between a death and the next start: no busy loop


def supervise(
    listed: list[tuple[str, list[str]]], env: dict, running: dict[str, subprocess.Popen], code_port: int
) -> None:
    """Start every service (the daemon and webserver once the code server answers) and start again any that
    dies, until svod serve is stopped (`running`: the live ones). In production systemd does this for each
    service (deploy/); this is the embedded server's supervisor."""
    for name, argv in listed:
        if name in WAIT_FOR_CODE:
            port_answers(code_port, CODE_WAIT_SECONDS)
        running[name] = start_service(name, argv, env)
    while True:
        time.sleep(1)
        for name, argv in listed:
            code = running[name].poll()
            if code is not None:
                console.print(
                    f"[yellow]Служба «{name}» остановилась (код {code}); запускаю её снова.[/yellow]"
                )
                time.sleep(RESTART_PAUSE_SECONDS)
                running[name] = start_service(name, argv, env)


def start_service(name: str, argv: list[str], env: dict) -> subprocess.Popen:
    """Every service ends with svod serve, even one killed; the web server answers at normal priority, the
    others yield the CPU to it."""
    starter = partial(end_with_parent if name == "web" else in_background, os.getpid())
    return subprocess.Popen(argv, env=env, preexec_fn=starter)


BACKGROUND_NICENESS = 10  # runs, worker and Dagster yield the CPU to the pages people wait for


def in_background(parent: int) -> None:
    """In a background service before it starts: a lower CPU priority, inherited by the runs it launches."""
    end_with_parent(parent)
    os.nice(BACKGROUND_NICENESS)


def free_loopback_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]


def refuse_taken_port(host: str, port: int) -> None:
    """Say in Russian when the address cannot be listened on (gunicorn would retry and then log in English)."""
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        reason = (
            "его уже занимает другая программа"
            if exc.errno == errno.EADDRINUSE
            else "он недоступен на этом сервере"
        )
        raise WrongInput(
            f"Кабинет не может слушать адрес {host}:{port}: {reason}. Укажите другой --port или --host."
        ) from exc


def server_processes(
    ws: Workspace,
    host: str,
    port: int,
    processes: int,
    threads: int,
    webserver_too: bool,
    dagster_port: int,
    code_port: int,
) -> list[tuple[str, list[str]]]:
    """A server's processes, in start order: the cabinet's web server (gunicorn), its worker and mail queue,
    Dagster's code server (gRPC) and daemon (the runs staff ask for, the inbox sensor, the calendars, run
    monitoring and retries), and with `webserver_too` Dagster's webserver, all on the workspace's instance. The
    one declaration of a server's processes: `svod serve` supervises them, `svod service` starts one for systemd
    (deploy/)."""
    python, bin_dir = sys.executable, Path(sys.executable).parent
    workspace_file = ws.home / ".dagster" / "workspace.yaml"
    atomic_write(
        workspace_file,
        f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {code_port}\n"
        "      location_name: svod\n",
    )
    web = [str(bin_dir / "gunicorn"), "-c", "python:cabinet.gunicorn_conf", "--bind", f"{host}:{port}"]
    dagster = [python, "-m", "pipeline.dagster_process"]  # each log line once
    code = [
        *dagster,
        str(bin_dir / "dagster"),
        "api",
        "grpc",
        "-m",
        "pipeline.definitions",
        "-h",
        "127.0.0.1",
    ]
    listed = [
        ("web", [*web, "--workers", str(processes), "--threads", str(threads)]),
        ("worker", [python, "-m", "cabinet", "worker", "--home", str(ws.home)]),
        ("mail", [python, "-m", "cabinet", "mail", "--home", str(ws.home)]),
        ("code", [*code, "-p", str(code_port)]),
        ("daemon", [*dagster, str(bin_dir / "dagster-daemon"), "run", "-w", str(workspace_file)]),
    ]
    if webserver_too:
        webserver = [
            *dagster,
            str(bin_dir / "dagster-webserver"),
            "-w",
            str(workspace_file),
            "-h",
            "127.0.0.1",
        ]
        listed.append(("webserver", [*webserver, "-p", str(dagster_port)]))
    return listed


def _role(role: str) -> str:
    if role not in ROLES:
        raise WrongInput(f"Неизвестная роль «{role}». Роли: {', '.join(ROLES)}.")
    return role


@command(on=users_app)
def create(
    role: str = typer.Option(..., help="Роль: school, methodist, region или admin."),
    organisation: str = typer.Option("", "--org", help="Код ОО, муниципалитета или региона."),
    email: str = typer.Option("", help="Почта, на которую придёт ссылка восстановления пароля."),
    username: str = typer.Option(None, help="Имя пользователя (по умолчанию — по коду организации)."),
    home: Path = HOME,
) -> None:
    """Создать учётную запись и напечатать одноразовую ссылку-приглашение."""
    from cabinet.setup import start

    start(Workspace.locate(home))
    from cabinet.accounts import UnknownOrganisation, create_account, invitation_link
    from cabinet.models import Role

    try:
        user = create_account(Role(_role(role)), organisation, username, email)
    except UnknownOrganisation as exc:
        raise WrongInput(str(exc)) from exc
    console.print(
        f"Учётная запись {user.get_username()} ({Role(role).label}). Ссылка для входа (неделя, один раз):"
    )
    console.print(invitation_link(user), soft_wrap=True)


def print_rows(title: str, header: list[str], rows: list[list[str]]) -> None:
    """A table on a terminal; elsewhere (a pipe, a file, a log) CSV with a header row, nothing cut short."""
    if console.is_terminal:
        table = Table(title=title)
        for col in header:
            table.add_column(col)
        for row in rows:
            table.add_row(*row)
        console.print(table)
        return
    out = csv.writer(sys.stdout)
    out.writerow(header)
    out.writerows(rows)


@command(on=users_app)
def schools(municipality: str = typer.Option(..., help="Код муниципалитета."), home: Path = HOME) -> None:
    """Создать учётные записи всем ОО муниципалитета из реестра и напечатать их ссылки-приглашения."""
    from cabinet.setup import start

    known = reference_of(home).municipalities
    m = known.get(municipality)
    if m is None:
        raise WrongInput(f"Неизвестный муниципалитет: {municipality}. Есть: {', '.join(known)}.")
    start(Workspace.locate(home))
    from cabinet.accounts import create_account, invitation_link
    from cabinet.models import Role

    rows = []
    for s in m.schools:
        user = create_account(Role.SCHOOL, s.id)
        rows.append([s.id, user.get_username(), invitation_link(user)])
    print_rows(f"Приглашения ОО: {m.name}", ["Код ОО", "Пользователь", "Ссылка"], rows)


@command
def backup(
    to: Path = typer.Option(..., "--to", help="Папка для резервных копий (лучше на другом диске)."),
    home: Path = HOME,
) -> None:
    """Резервная копия всей установки одним файлом: рабочая папка, хранилище, базы кабинета и Dagster (или их копии из PostgreSQL); файл доступен только владельцу."""
    from pipeline.backup import BackupRefused
    from pipeline.backup import backup as make_backup

    try:
        written = make_backup(existing(home), to)
    except BackupRefused as exc:
        raise WrongInput(str(exc)) from exc
    console.print(f"Резервная копия: {written} ({written.stat().st_size / 1024**2:.1f} МБ).", soft_wrap=True)


@command
def restore(
    archive: Path = typer.Argument(..., help="Файл резервной копии (svod_backup_….tar.gz)."),
    home: Path = HOME,
) -> None:
    """Восстановить установку из резервной копии в новую пустую рабочую папку (и базы PostgreSQL, если они были)."""
    from pipeline.backup import BackupRefused
    from pipeline.backup import restore as unpack

    if not archive.is_file():
        raise WrongInput(f"Файла {archive} нет.")
    try:
        restored = unpack(archive, Workspace.locate(home))
    except BackupRefused as exc:
        raise WrongInput(str(exc)) from exc
    console.print(
        f"Восстановлено в {restored}. Запустите svod serve --home {restored} (или службы svod) — "
        "кабинет и сводки будут такими, какими были в момент копии.",
        soft_wrap=True,
    )


@command(on=users_app, name="second-factor")
def second_factor(
    username: str = typer.Option(..., help="Имя пользователя, чей телефон потерян или заменён."),
    home: Path = HOME,
) -> None:
    """Отключить второй фактор входа учётной записи (телефон потерян): при следующем входе она подключит новый."""
    from cabinet.setup import start

    start(Workspace.locate(home))
    from django.contrib.auth import get_user_model
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = get_user_model().objects.filter(username__iexact=username).first()
    if user is None:
        raise WrongInput(f"Учётной записи «{username}» нет.")
    removed, _ = TOTPDevice.objects.filter(user=user).delete()
    console.print(
        f"Второй фактор учётной записи {user.get_username()} отключён (устройств: {removed}); "
        "при следующем входе она подключит новый телефон."
    )


@command(on=users_app)
def accounts(home: Path = HOME) -> None:
    """Показать учётные записи кабинета."""
    from cabinet.setup import start

    start(Workspace.locate(home))
    from cabinet.models import Account

    rows = [
        [
            a.user.get_username(),
            a.get_role_display(),
            a.organisation,
            "да" if a.user.has_usable_password() else "нет",
            f"{a.user.last_login:%d.%m.%Y %H:%M}" if a.user.last_login else "",
        ]
        for a in Account.objects.select_related("user").order_by("role", "organisation")
    ]
    print_rows(
        "Учётные записи кабинета",
        ["Пользователь", "Роль", "Организация", "Пароль задан", "Последний вход"],
        rows,
    )
    from django.conf import settings

    console.print(f"Адрес кабинета: {settings.PUBLIC_URL}")


@command
def notify(
    period: str = PERIOD,
    municipality: str = typer.Option(None, help="Код муниципалитета."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Только показать, какие письма пора отправить."),
    home: Path = HOME,
) -> None:
    """Напоминания, письма о пропущенном сроке и сводки методистам, которые пора отправить, — и отправка очереди писем."""
    from datetime import date

    targets(reference_of(home), period, [municipality] if municipality else None)
    ws = existing(home)
    from cabinet.setup import start

    start(ws.home)
    from django.conf import settings

    from cabinet import notices

    drafts = notices.due(date.today(), municipality, period)
    table = Table(title=f"Письма, которые пора отправить: период {period}")
    for col in ("Письмо", "ОО / МО", "Кому", "Тема"):
        table.add_column(col)
    for d in drafts:
        table.add_row(d.kind.label, d.school_id or d.municipality, ", ".join(d.recipients), d.subject)
    console.print(table)
    if dry_run:
        console.print(f"Проверка без отправки: писем к отправке — {len(drafts)}.")
        return
    new = sum(bool(d.record()) for d in drafts)
    sent, postponed = notices.send_queued()
    where = (
        "через почтовый сервер"
        if settings.MAIL_CONFIGURED
        else f"в файлы (почта не настроена): {settings.EMAIL_FILE_PATH}"
    )
    console.print(
        f"Новых писем в очереди: {new} (остальные уже были). Отправлено {where}: {sent}; "
        f"отложено до следующей попытки: {postponed}.",
        soft_wrap=True,
    )
