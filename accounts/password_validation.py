"""Django's password validators, their help texts (the rules listed under a new password's field) in this site's
words: Django's address the reader as "usted" in Spanish ("Su contraseña no puede…") where the site says "tú".
The rules themselves, and their refusals, are Django's."""

from django.contrib.auth import password_validation
from django.utils.translation import gettext, ngettext


class MinimumLengthValidator(password_validation.MinimumLengthValidator):
    def get_help_text(self) -> str:
        return ngettext(
            "At least %(min_length)d character.", "At least %(min_length)d characters.", self.min_length
        ) % {"min_length": self.min_length}


class UserAttributeSimilarityValidator(password_validation.UserAttributeSimilarityValidator):
    def get_help_text(self) -> str:
        return gettext("Not too like your username or e-mail address.")


class CommonPasswordValidator(password_validation.CommonPasswordValidator):
    def get_help_text(self) -> str:
        return gettext("Not a commonly used password.")


class NumericPasswordValidator(password_validation.NumericPasswordValidator):
    def get_help_text(self) -> str:
        return gettext("Not digits only.")
