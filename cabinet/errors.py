"""The cabinet's error pages, in Russian and without technical detail (there is no debug page in any mode).

When the cabinet's database is away, the page is a 503 made without it (no session, no account: both live
there), and the log gets one line, not a traceback per request (`cabinet.logs`); a full disk is said as such.
"""

import errno
import sys

import sqlalchemy.exc
from django.db.utils import InterfaceError, OperationalError
from django.http import HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string

RETRY_AFTER_SECONDS = 30
UNAVAILABLE = (
    "Сервис временно недоступен",
    "Кабинет не может связаться со своей базой данных. Ничего не потеряно; повторите через минуту.",
)
DISK_FULL = (
    "На сервере нет места",
    "На диске сервера закончилось место, поэтому действие не выполнено и файл не сохранён. "
    "Сообщите администратору; когда место появится, повторите.",
)


def database_away(exc: BaseException | None) -> bool:
    """The cabinet's store or Dagster's (through SQLAlchemy) cannot be reached."""
    return isinstance(exc, (OperationalError, InterfaceError, sqlalchemy.exc.OperationalError))


def disk_full(exc: BaseException | None) -> bool:
    return isinstance(exc, OSError) and exc.errno == errno.ENOSPC


def _page(request, status: int, title: str, text: str):
    return render(request, "cabinet/message.html", {"title": title, "text": text}, status=status)


def unavailable(title: str, text: str, status: int = 503) -> HttpResponse:
    """A page made without the database (no request context: the session and account live there)."""
    response = HttpResponse(
        render_to_string("cabinet/unavailable.html", {"title": title, "text": text}), status=status
    )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def not_found(request, exception=None):
    return _page(request, 404, "Страница не найдена", "Такой страницы нет или она вам недоступна.")


def forbidden(request, exception=None):
    return _page(
        request,
        403,
        "Доступ запрещён",
        "Это действие вам недоступно. Если страница была открыта давно, обновите её и повторите.",
    )


def bad_request(request, exception=None):
    return _page(
        request, 400, "Неверный запрос", "Запрос не удалось обработать. Обновите страницу и повторите."
    )


def server_error(request):
    failure = sys.exc_info()[1]
    if database_away(failure):
        return unavailable(*UNAVAILABLE)
    if disk_full(failure):
        return unavailable(*DISK_FULL, status=507)
    return _page(
        request,
        500,
        "Ошибка на сервере",
        "Что-то пошло не так, и действие не выполнено. Повторите через несколько минут; если ошибка "
        "повторится, напишите методисту.",
    )


def csrf_failure(request, reason=""):
    return _page(
        request,
        403,
        "Доступ запрещён",
        "Форма устарела или отправлена не со страницы кабинета. Обновите страницу и отправьте её снова.",
    )
