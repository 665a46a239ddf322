"""The upload size limit, applied before a request body is read: a declared length over the limit is refused at
once (`RefuseOversizedUploads`), and a body that turns out longer than declared stops being read
(`LimitedUploadHandler`). Files are kept in memory until the engine archives them; nothing is written under a
name the client chose.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import MemoryFileUploadHandler, StopUpload
from django.shortcuts import render

TOO_LARGE = "Файл слишком большой: отчёт не может быть больше {mb} МБ. Удалите лишние листы и рисунки или заполните выданный шаблон заново."


def too_large_message() -> str:
    return TOO_LARGE.format(mb=settings.UPLOAD_LIMIT_BYTES // (1024 * 1024))


class RefuseOversizedUploads:
    """Answers 413 to a request that declares a body over the upload limit, before reading any of it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > settings.UPLOAD_LIMIT_BYTES + 64 * 1024:  # the limit, and room for the form's fields
            return render(
                request,
                "cabinet/message.html",
                {"title": "Файл не принят", "text": too_large_message()},
                status=413,
            )
        return self.get_response(request)


class LimitedUploadHandler(MemoryFileUploadHandler):
    """Keeps an uploaded file in memory and stops reading once it passes the limit."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.received = 0
        self.activated = True  # always in memory: the limit is below what memory holds easily
        return None

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > settings.UPLOAD_LIMIT_BYTES:
            self.request.upload_too_large = True
            raise StopUpload(connection_reset=False)
        return super().receive_data_chunk(raw_data, start)
