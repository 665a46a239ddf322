"""The cabinet's error pages, in Russian and without technical detail (there is no debug page in any mode)."""

from django.shortcuts import render


def _page(request, status: int, title: str, text: str):
    return render(request, "cabinet/message.html", {"title": title, "text": text}, status=status)


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
    return _page(
        request,
        500,
        "Ошибка на сервере",
        "Что-то пошло не так. Ваши файлы сохранены; повторите через несколько минут или напишите методисту.",
    )


def csrf_failure(request, reason=""):
    return _page(
        request,
        403,
        "Доступ запрещён",
        "Форма устарела или отправлена не со страницы кабинета. Обновите страницу и отправьте её снова.",
    )
