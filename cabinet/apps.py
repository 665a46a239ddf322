"""The cabinet's Django application, and the Russian names Django's admin shows for the kept packages' parts
(their own names are English: «AXES», «Tasks Database Backend»)."""

from axes.apps import AppConfig as AxesConfig
from django.apps import AppConfig
from django_otp.plugins.otp_totp.apps import DefaultConfig as TotpConfig
from django_tasks_db.apps import TasksAppConfig


class CabinetConfig(AppConfig):
    default = True  # the one `cabinet` names: the others below are named in INSTALLED_APPS
    name = "cabinet"
    verbose_name = "Кабинет svod"


class LoginPauses(AxesConfig):
    verbose_name = "Неудачные входы и паузы"


class MailQueue(TasksAppConfig):
    verbose_name = "Очередь писем"


class SecondFactor(TotpConfig):
    verbose_name = "Второй фактор входа"
