"""The Django admin for administrators: accounts editable, the audit log read-only."""

from django.contrib import admin

from cabinet.models import Account, AuditEvent


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ("user", "role", "organisation")
    list_filter = ("role",)
    search_fields = ("user__username", "organisation")


@admin.register(AuditEvent)
class AuditAdmin(admin.ModelAdmin):
    list_display = ("at", "actor", "role", "action", "municipality", "school_id", "period", "reason")
    list_filter = ("role", "municipality")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
