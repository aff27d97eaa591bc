/*
 * Not loaded by any page. The messages of Django's admin scripts that Django's own catalogs have not translated into
 * German or Spanish yet (Django 6.1): the permission picker's buttons and help, the calendar's and the clock's, the
 * time zone note beside a time. Written here as literal calls, `makemessages -d djangojs` keeps them in our catalogs,
 * which the admin's script catalog (/admin/jsi18n/) reads before Django's (LOCALE_PATHS). The admin's templates' and
 * code's are in django_catalog_gaps.py; tests/test_django_catalog_gaps.py checks that each is one Django still leaves
 * untranslated.
 */
gettext('Choose %s by selecting them and then select the "Choose" arrow button.');
gettext("Choose all %s");
gettext("Choose selected %s");
gettext("Remove selected %s");
gettext('Remove %s by selecting them and then select the "Remove" arrow button.');
gettext("(click to clear)");
gettext("Remove all %s");
gettext(
  "You have selected an action, and you haven’t made any changes on individual fields. You’re probably looking for the Run button rather than the Save button.",
);
gettext("server");
ngettext(
  "Note: Enter times in the %(timezone)s timezone. (You are %(offset)s hour ahead.)",
  "Note: Enter times in the %(timezone)s timezone. (You are %(offset)s hours ahead.)",
  1,
);
ngettext(
  "Note: Enter times in the %(timezone)s timezone. (You are %(offset)s hour behind.)",
  "Note: Enter times in the %(timezone)s timezone. (You are %(offset)s hours behind.)",
  1,
);
gettext("Today (%(date)s)");
gettext("Yesterday (%(date)s)");
gettext("Tomorrow (%(date)s)");
gettext("Previous (%(month)s %(year)s)");
gettext("Next (%(month)s %(year)s)");
gettext("%(month)s %(day)s, %(year)s");
gettext("%s (today, current selection)");
gettext("%s (today)");
gettext("%s (current selection)");
