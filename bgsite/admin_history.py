"""The admin's history of a row in the reader's language. Django logs the fields a change changed by their form labels
(in English, capitalised: "User permissions") and, showing the history, looks each up in the catalogs, which hold the
models' names of fields ("user permissions"), not the labels: the history named them in English whatever the
language. Logged here by the model's names of its fields, in English, the messages the catalogs translate."""

from typing import Any

from django.contrib import admin
from django.core.exceptions import FieldDoesNotExist
from django.forms import Form
from django.http import HttpRequest
from django.utils import translation


class HistoryInReadersLanguage(admin.ModelAdmin):
    def construct_change_message(
        self, request: HttpRequest, form: Form, formsets: Any, add: bool = False
    ) -> list[dict[str, Any]]:
        message = super().construct_change_message(request, form, formsets, add)
        for part in message:
            if "changed" in part and "name" not in part["changed"]:  # the row's own fields, not an inline row's
                part["changed"]["fields"] = [self._logged_name(form, field) for field in form.changed_data]
        return message

    def _logged_name(self, form: Form, field: str) -> str:
        with translation.override(None):
            try:
                return str(getattr(self.model._meta.get_field(field), "verbose_name", field))
            except FieldDoesNotExist:  # a field of the form's own
                return str(form.fields[field].label or field)
