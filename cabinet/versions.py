"""Versions of a return that came another way than the cabinet (e-mail, a shared folder, the inbox): the cabinet
shows them like its own uploads, from what the warehouse recorded when it checked them (verdict, problems by
sheet and cell, rows) and the answers the pipeline wrote (receipt, annotated copy); the file as handed in is in
the archive. Made by the worker when it copies a partition (`cabinet.worker.sync`)."""

from __future__ import annotations

import shutil

from django.utils import timezone

from cabinet.engine import answers_folder
from cabinet.models import Channel, Upload
from pipeline.config import Workspace
from pipeline.domain.issues import counts
from pipeline.feedback import ANSWER_FILES, Answer, feedback_path


def add_missing(ws: Workspace, municipality: str, payloads: list[str], known: set[str]) -> int:
    """An upload for each answered file the cabinet does not know (by sha256); returns how many were added."""
    added = 0
    for payload in payloads:
        answer = Answer.model_validate_json(payload)
        if answer.sha256 in known or not answer.school_id or not answer.period:
            continue
        known.add(answer.sha256)
        archived = sorted((ws.archive / answer.sha256[:2]).glob(f"{answer.sha256}.*"))
        errors, warnings = counts(answer.issues)
        upload = Upload.objects.create(
            school_id=answer.school_id,
            municipality=municipality,
            period=answer.period,
            uploaded_at=timezone.make_aware(answer.received_at),
            client_name=answer.original_name[:200],
            size=archived[0].stat().st_size if archived else 0,
            sha256=answer.sha256,
            verdict=answer.verdict.value,
            recorded_verdict=answer.verdict.value,
            errors=errors,
            warnings=warnings,
            issues=[i.model_dump(mode="json") for i in answer.issues],
            rows=answer.rows,
            forwarded=True,
            channel=Channel.INBOX,
        )
        for suffix in ANSWER_FILES.values():
            written = feedback_path(ws.outbox, answer.school_id, answer.original_name, answer.sha256, suffix)
            if written.exists():
                folder = answers_folder(upload.pk)
                folder.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(written, folder / written.name)
        added += 1
    return added
