"""The cabinet's addresses. Every object in an address (school, period, upload, municipality, region, run) is
checked against the logged-in account by the view (`cabinet.access`)."""

from django.contrib import admin
from django.contrib.auth import views as auth
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_safe

from cabinet.access import account_of
from cabinet.forms import LoginForm, QueuedPasswordResetForm
from cabinet.health import health
from cabinet.limits import address_spraying
from cabinet.models import Role
from cabinet.twofactor import second_factor
from cabinet.views import figures, school, staff


@require_safe
def home(request):
    if not request.user.is_authenticated:
        return redirect("login")
    return redirect("school_home" if account_of(request.user).role == Role.SCHOOL else "staff_home")


FORM_METHODS = ["get", "head", "post"]  # Django's form views take PUT as POST


def methods_first(view_class):
    """`view_class` serving GET, HEAD and POST only, and refusing other methods before its own dispatch (which
    redirects a signed-in person or checks a link's token first)."""

    class Strict(view_class):
        http_method_names = FORM_METHODS

        def dispatch(self, request, *args, **kwargs):
            if request.method.lower() not in self.http_method_names:
                return self.http_method_not_allowed(request, *args, **kwargs)
            return super().dispatch(request, *args, **kwargs)

    return Strict


class LoginView(methods_first(auth.LoginView)):
    """Django's login page; a signed-in person sent to it again goes home, even when `next` names the login page
    itself (Django would refuse that as a redirect loop with a server error). An address that failed too often
    across usernames waits like a username does (`limits.address_spraying`)."""

    redirect_authenticated_user = True
    form_class = LoginForm

    def post(self, request, *args, **kwargs):
        if address_spraying(request):
            return render(request, "registration/locked.html", status=429)
        return super().post(request, *args, **kwargs)

    def get_redirect_url(self):
        target = super().get_redirect_url()
        return "" if target.split("?")[0] == self.request.path else target


RESET = {"template_name": "registration/set_password.html", "success_url": "/login/?password=set"}

urlpatterns = [
    path("", home, name="home"),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth.LogoutView.as_view(), name="logout"),
    path(
        "password/",
        methods_first(auth.PasswordResetView).as_view(
            success_url="/password/sent/", form_class=QueuedPasswordResetForm
        ),
        name="password_reset",
    ),
    path("password/sent/", auth.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password/change/",
        methods_first(auth.PasswordChangeView).as_view(
            template_name="registration/change_password.html", success_url="/password/changed/"
        ),
        name="password_change",
    ),
    path(
        "password/changed/",
        methods_first(auth.PasswordChangeDoneView).as_view(
            template_name="registration/password_changed.html"
        ),
        name="password_change_done",
    ),
    path(
        "password/<uidb64>/<token>/",
        methods_first(auth.PasswordResetConfirmView).as_view(**RESET),
        name="password_reset_confirm",
    ),
    path(
        "invite/<uidb64>/<token>/",
        methods_first(auth.PasswordResetConfirmView).as_view(**RESET),
        name="invite",
    ),
    path("school/", school.school_home, name="school_home"),
    path("o/<str:school_id>/<str:slug>/", school.return_page, name="return"),
    path("o/<str:school_id>/<str:slug>/template/", school.template, name="template"),
    path("o/<str:school_id>/<str:slug>/upload/", school.hand_in, name="hand_in"),
    path("o/<str:school_id>/<str:slug>/decide/", staff.decide, name="decide"),
    path("o/<str:school_id>/<str:slug>/contacts/", staff.contacts, name="contacts"),
    path("o/<str:school_id>/<str:slug>/impact/", figures.impact_fragment, name="impact"),
    path("upload/<uuid:upload_id>/", school.upload_page, name="upload"),
    path("upload/<uuid:upload_id>/justify/", school.justify, name="justify"),
    path("upload/<uuid:upload_id>/<str:kind>/", school.upload_file, name="upload_file"),
    path("staff/", staff.staff_home, name="staff_home"),
    path("m/<str:code>/<str:slug>/", staff.board_page, name="board"),
    path("m/<str:code>/<str:slug>/export/", staff.board_export, name="board_export"),
    path("m/<str:code>/<str:slug>/consolidate/", staff.consolidate, name="consolidate"),
    path("m/<str:code>/<str:slug>/remind/", staff.remind, name="remind"),
    path("m/<str:code>/<str:slug>/approve/", staff.approve_chosen, name="approve_chosen"),
    path("m/<str:code>/<str:slug>/summary/", staff.summary_download, name="summary"),
    path("m/<str:code>/<str:slug>/indicators/", figures.indicators_page, name="indicators"),
    path("figure/<path:figure_id>/", figures.figure_page, name="figure"),
    path("region/<str:region>/indicators/", figures.region_indicators, name="region_indicators"),
    path("audit/<str:code>/", staff.audit_page, name="audit"),
    path("users/<str:code>/", staff.users_page, name="users"),
    path("users/<str:code>/address/", staff.account_address, name="account_address"),
    path("users/<str:code>/invite-all/", staff.invite_all, name="invite_all"),
    path("job/<int:job_id>/", staff.job_status, name="job"),
    path("region/<str:region>/", staff.region_page, name="region"),
    path("region/<str:region>/consolidate/", staff.regional_consolidate, name="regional_consolidate"),
    path("region/<str:region>/file/<str:name>/", staff.regional_download, name="regional_file"),
    path("health/", health, name="health"),
    path("2fa/", second_factor, name="second_factor"),
    path("admin/", admin.site.urls),
]

handler404 = "cabinet.errors.not_found"
handler403 = "cabinet.errors.forbidden"
handler500 = "cabinet.errors.server_error"
handler400 = "cabinet.errors.bad_request"
