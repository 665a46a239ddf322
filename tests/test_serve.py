"""`svod serve` as schools meet it: two gunicorn web processes on one port sharing sessions through the cabinet's store,
every upload answered whichever process takes it, and nothing it started left running once it stops."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pipeline.config import DEMO_SIGNING_KEY, Workspace
from tests.support.cabinet import filled
from tests.support.servers import (
    accounts_script,
    answering,
    free_port,
    group_alive,
    logged_in,
    processes,
    uploaded,
    wait_until,
)

pytestmark = pytest.mark.slow
SCHOOLS, SLUG, BY_MAIL = ["ARH-001", "ARH-002"], "2026-Q4", "ARH-003"


def web_processes(pgid: int) -> list[int]:
    """gunicorn's web processes in the server's group: forks of its arbiter at niceness 0 (not their checking
    processes, which are forks of theirs at niceness 5)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and os.getpgid(int(proc.name)) == pgid:
                stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                parent = Path("/proc") / stat[1] / "cmdline"
                if (
                    b"gunicorn" in (proc / "cmdline").read_bytes()
                    and b"gunicorn" in parent.read_bytes()
                    and int(stat[16]) == 0
                ):
                    found.append(int(proc.name))
        except (OSError, ValueError):
            continue
    return found


def school_hands_in(base: str, school: str, workbook: Path) -> str:
    answer = uploaded(logged_in(base, school), base, school, SLUG, workbook)
    answer.raise_for_status()
    return re.search(r"Отчёт (не )?принят", answer.text).group(0)


@pytest.mark.skipif(sys.platform != "linux", reason="process groups")
def test_two_web_processes_answer_every_upload_and_stop_with_the_server(tmp_path):
    home = tmp_path / "home"
    Workspace.resolve(home, signing_key=DEMO_SIGNING_KEY)
    env = {**os.environ, "SVOD_SIGNING_KEY": DEMO_SIGNING_KEY, "SVOD_HOME": str(home)}
    for name in ("DJANGO_SETTINGS_MODULE", "SVOD_CABINET_DATABASE"):
        env.pop(name, None)
    subprocess.run(
        [
            sys.executable,
            "-c",
            accounts_script(home, [*SCHOOLS, BY_MAIL]),
        ],
        env=env,
        check=True,
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("svod")),
            "serve",
            "--home",
            str(home),
            "--port",
            str(port),
            "--processes",
            "2",
            "--threads",
            "4",
        ],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: answering(f"{base}/login/"), "the cabinet", 120)
        assert len(web_processes(server.pid)) == 2
        templates = {}
        for school in [*SCHOOLS, BY_MAIL]:  # each school's own prefilled template, as the cabinet issues it
            templates[school] = tmp_path / f"{school}.xlsx"
            templates[school].write_bytes(
                logged_in(base, school).get(f"{base}/o/{school}/{SLUG}/template/", timeout=60).content
            )
        sent = [
            (school, filled(templates[school], tmp_path / f"{school}_{k}.xlsx", mistake, seed=k))
            for k, (school, mistake) in enumerate([(SCHOOLS[0], None), (SCHOOLS[1], "bad_date")] * 4)
        ]
        with ThreadPoolExecutor(len(sent)) as pool:  # all at once: both processes take some
            verdicts = list(pool.map(lambda job: school_hands_in(base, *job), sent))
        assert verdicts == ["Отчёт принят", "Отчёт не принят"] * 4
        killed = web_processes(server.pid)[0]
        os.kill(killed, signal.SIGKILL)  # a web process dies: gunicorn's arbiter starts another, nobody else
        wait_until(
            lambda: killed not in (now := web_processes(server.pid)) and len(now) == 2,
            "a new web process",
            60,
        )
        assert school_hands_in(base, *sent[0]) == "Отчёт принят"
        the_server_answers_head_without_a_body_and_a_large_body_before_reading_it(port)
        services = (b"cabinet\x00worker", b"cabinet\x00mail", b"api\x00grpc", b"dagster-daemon")
        for service in services:  # the daemon starts once the code server answers
            wait_until(lambda s=service: processes(server.pid, s), "every service to start", 180)
        dead = {service: processes(server.pid, service)[0] for service in services}
        for pid in dead.values():  # killed together: svod serve starts each again
            os.kill(pid, signal.SIGKILL)
        for service, pid in dead.items():
            wait_until(lambda s=service, d=pid: processes(server.pid, s) not in ([], [d]), "a restart", 60)
        dagster_runs_what_the_cabinet_asks_and_the_board_follows_the_inbox(base, home, tmp_path)
    finally:
        server.send_signal(signal.SIGTERM)  # the main process only, as a service manager stops it
        server.wait(timeout=60)
        wait_until(lambda: not group_alive(server.pid), "every process the server started to stop", 30)


def the_server_answers_head_without_a_body_and_a_large_body_before_reading_it(port: int) -> None:
    """A HEAD answer carries no body, so the next answer on a kept-alive connection is read as itself; a body
    declared over the limit is refused at once, before a byte of it is read."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(
            b"HEAD /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            b"GET /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        answers = b""
        while chunk := conn.recv(65536):
            answers += chunk
    head, rest = answers.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200") and rest.startswith(b"HTTP/1.1 200")  # nothing in between
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(
            b"POST /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 1073741824\r\n\r\nx"
        )  # a gigabyte declared, one byte sent
        started = time.monotonic()
        answer = conn.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413") and time.monotonic() - started < 10


def dagster_runs_what_the_cabinet_asks_and_the_board_follows_the_inbox(
    base: str, home: Path, tmp_path
) -> None:
    """The methodist's «Запустить свод» is a run of Dagster's daemon, followed on the page to its end; a return
    e-mailed into the inbox reaches the board within a minute by the daemon's inbox sensor, nobody pressing
    anything."""
    methodist = logged_in(base, "metodist-arkhangelsk")
    asked = methodist.post(
        f"{base}/m/arkhangelsk/{SLUG}/consolidate/",
        data={"csrfmiddlewaretoken": methodist.cookies["csrftoken"]},
        headers={"Referer": f"{base}/m/arkhangelsk/{SLUG}/", "HX-Request": "true"},
        timeout=60,
    )
    job = re.search(r'hx-get="(/job/[^"]+/)"', asked.text).group(1)
    wait_until(lambda: "готово" in methodist.get(f"{base}{job}", timeout=30).text, "the consolidation", 240)

    def board_row() -> str:
        board = methodist.get(f"{base}/m/arkhangelsk/{SLUG}/?q={BY_MAIL}", timeout=30).text
        return re.sub(r"\s+", " ", board.split(f'data-school="{BY_MAIL}"', 1)[-1].split("</tr>")[0])

    assert "не сдан" in board_row()
    e_mailed = filled(
        tmp_path / f"{BY_MAIL}.xlsx", tmp_path / f"{BY_MAIL}_письмо.xlsx"
    )  # issued at the start
    dropped = home / "inbox" / e_mailed.name
    dropped.write_bytes(e_mailed.read_bytes())
    settled = time.time() - 10  # as a mail client leaves it: written, not being written
    os.utime(dropped, (settled, settled))
    wait_until(lambda: "принят" in board_row(), "the e-mailed return on the board", 120)


def test_a_busy_port_is_said_in_russian_without_a_traceback(tmp_path):
    home = tmp_path / "home"
    Workspace.resolve(home, signing_key=DEMO_SIGNING_KEY)
    env = {**os.environ, "SVOD_SIGNING_KEY": DEMO_SIGNING_KEY}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        said = subprocess.run(
            [
                str(Path(sys.executable).with_name("svod")),
                "serve",
                "--home",
                str(home),
                "--port",
                str(taken.getsockname()[1]),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert said.returncode != 0 and "Traceback" not in said.stdout + said.stderr
    assert "уже занимает другая программа" in " ".join(said.stdout.split())


def test_invitation_links_are_complete_when_not_on_a_terminal(tmp_path):
    """`svod users schools` in a script or a log: CSV with every link whole, none cut short with «…»."""
    import csv
    import io

    from pipeline.reference import load_reference

    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("svod")),
            "users",
            "schools",
            "--municipality",
            "kedrovy",
            "--home",
            str(tmp_path / "home"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = list(csv.reader(io.StringIO(done.stdout)))
    assert rows[0] == ["Код ОО", "Пользователь", "Ссылка"]
    assert [r[0] for r in rows[1:]] == [s.id for s in load_reference().municipalities["kedrovy"].schools]
    assert all("/invite/" in r[2] and r[2].endswith("/") and "…" not in r[2] for r in rows[1:])


def test_systemd_runs_each_declared_service_in_its_own_unit(tmp_path):
    """deploy/ has one unit per process `svod serve` supervises (and one that prepares the databases first), each
    restarting by itself, the daemon and webserver after the code server, all in svod.target; `svod service`
    prepares, and names the services when asked for one that does not exist."""
    from pipeline.cli.cabinet import server_processes

    deploy = Path(__file__).parents[1] / "deploy"
    units = {
        p.stem.removeprefix("svod-"): p.read_text(encoding="utf-8") for p in deploy.glob("svod-*.service")
    }
    declared = [
        name
        for name, _ in server_processes(Workspace(home=tmp_path), "127.0.0.1", 8000, 2, 8, True, 3000, 4266)
    ]
    assert set(units) == {"prepare", *declared}
    target = (deploy / "svod.target").read_text(encoding="utf-8")
    for name, text in units.items():
        assert (
            f"ExecStart=/opt/svod/.venv/bin/svod service {name}" in text and f"svod-{name}.service" in target
        )
        assert ("Type=oneshot" in text) if name == "prepare" else ("Restart=always" in text), name
        assert "After=svod-prepare.service" in text or name == "prepare"
    for name in ("daemon", "webserver"):
        assert "svod-code.service" in units[name].split("[Service]")[0]

    home = tmp_path / "home"
    Workspace.resolve(home, signing_key=DEMO_SIGNING_KEY)
    env = {
        k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "SVOD_CABINET_DATABASE")
    }
    env["SVOD_SIGNING_KEY"] = DEMO_SIGNING_KEY
    svod = [str(Path(sys.executable).with_name("svod")), "service"]
    wrong = subprocess.run([*svod, "nope", "--home", str(home)], env=env, capture_output=True, text=True)
    assert wrong.returncode == 2 and "Нет службы «nope»" in wrong.stdout and "Traceback" not in wrong.stderr
    prepared = subprocess.run(
        [*svod, "prepare", "--home", str(home)], env=env, capture_output=True, text=True
    )
    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    assert (home / "cabinet" / "cabinet.sqlite3").exists() and (home / ".dagster" / "dagster.yaml").exists()
