"""The cabinet's forms: handing in a workbook, justifying a warning, a methodist's decision, an invitation, a
password reset."""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm

from cabinet.models import DecisionKind
from pipeline.intake.handing import ACCEPTED_SUFFIXES


class UploadForm(forms.Form):
    file = forms.FileField(
        label="Файл отчёта",
        error_messages={
            "required": "Выберите файл отчёта (.xlsx).",
            "empty": "Файл пустой: выберите заполненный отчёт.",
        },
    )

    def clean_file(self):
        f = self.cleaned_data["file"]
        if Path(f.name).suffix.lower() not in ACCEPTED_SUFFIXES:
            raise forms.ValidationError(
                "Это не книга Excel. Загрузите заполненный шаблон отчёта — файл .xlsx."
            )
        return f


class JustificationForm(forms.Form):
    issue_key = forms.CharField(widget=forms.HiddenInput, max_length=200)
    text = forms.CharField(
        label="Пояснение",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Напишите пояснение."},
    )


class DecisionForm(forms.Form):
    kind = forms.ChoiceField(choices=DecisionKind.choices, widget=forms.HiddenInput)
    reason = forms.CharField(
        label="Причина", required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
    deadline = forms.DateField(
        label="Новый срок", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    NEEDS_REASON = (DecisionKind.RETURN, DecisionKind.UNAPPROVE)

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind in self.NEEDS_REASON and not (data.get("reason") or "").strip():
            self.add_error("reason", "Укажите причину: школа её увидит.")
        if kind == DecisionKind.EXTEND and not data.get("deadline"):
            self.add_error("deadline", "Укажите новый срок сдачи.")
        if kind not in (DecisionKind.EXTEND, DecisionKind.RETURN):  # a date is part of these two only
            data["deadline"] = None
        return data


class InviteForm(forms.Form):
    school_id = forms.CharField(widget=forms.HiddenInput, max_length=32)
    email = forms.EmailField(label="Адрес электронной почты", required=False, max_length=254)  # as the model


class LoginForm(AuthenticationForm):
    """Django's login form, with usernames matched whatever their letters' case: the ОО code is printed
    «ARH-001» everywhere while the account is «arh-001»."""

    def clean_username(self):
        typed = self.cleaned_data["username"].strip()
        found = list(
            get_user_model().objects.filter(username__iexact=typed).values_list("username", flat=True)
        )
        return found[0] if len(found) == 1 else typed


class QueuedPasswordResetForm(PasswordResetForm):
    """Django's password reset, its mail recorded for the mail queue instead of sent inside the request: the
    answer takes as long for an unknown address as for a known one, and a mail server that is down is not an
    error page."""

    def send_mail(self, subject_template_name, email_template_name, context, from_email, to_email, **_):
        from cabinet import notices

        notices.password_reset(context["user"], to_email, context["uid"], context["token"]).record()


class ContactForm(forms.Form):
    email = forms.EmailField(label="Эл. почта ОО")
    curator_email = forms.EmailField(label="Эл. почта куратора наставничества")
