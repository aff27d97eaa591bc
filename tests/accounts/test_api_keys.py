"""accounts.services and the createapikey command."""

import hashlib
import json
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import models
from django.utils import timezone

from accounts import services
from accounts.forms import ApiKeyCreateForm
from accounts.models import ApiKey, Invitation
from accounts.services import MAX_API_KEYS
from removal.models import Batch, DailyUsage, Item
from tests.conftest import make_item, python

pytestmark = pytest.mark.django_db


def test_created_key_is_returned_once_and_stored_hashed(user: Any) -> None:
    key, plain = services.api_key_create(user=user, name="  shop import  ")
    assert key.name == "shop import"
    assert plain.startswith(key.prefix + "_")
    assert key.prefix.startswith("bgs_") and len(key.prefix) == 12
    secret = plain[len(key.prefix) + 1 :]
    assert len(secret) >= 40
    stored = ApiKey.objects.get(pk=key.pk)
    assert stored.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {getattr(stored, field.attname) for field in ApiKey._meta.fields}


def test_a_name_past_the_column_is_cut_to_it_and_the_form_refuses_it(user: Any) -> None:
    """The command takes any --name; the account page's form refuses one longer than the column."""
    key, _ = services.api_key_create(user=user, name="k" * 150)
    assert ApiKey.objects.get(pk=key.pk).name == "k" * 100
    assert not ApiKeyCreateForm({"name": "k" * 101}).is_valid() and ApiKeyCreateForm({"name": "k" * 100}).is_valid()
    invitation, _ = services.invitation_create(note="n" * 250)
    assert Invitation.objects.get(pk=invitation.pk).note == "n" * 200


def test_authenticate_finds_the_key_and_notes_its_use(user: Any) -> None:
    key, plain = services.api_key_create(user=user, name="k")
    assert key.last_used_at is None
    assert services.api_key_authenticate(raw_key=plain).user == user
    key.refresh_from_db()
    first_use = key.last_used_at
    assert first_use is not None
    services.api_key_authenticate(raw_key=plain)  # within a minute: no write
    key.refresh_from_db()
    assert key.last_used_at == first_use
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now() - timedelta(minutes=5))
    services.api_key_authenticate(raw_key=plain)
    key.refresh_from_db()
    assert key.last_used_at > first_use


@pytest.mark.parametrize(
    "mangle",
    [
        lambda k: k + "x",
        lambda k: k[:-1],
        lambda k: k.upper(),
        lambda k: "",
        lambda k: "bgs_",
        lambda k: k[:5] + "\x00" + k[6:],  # PostgreSQL refuses a NUL in the prefix it looks up
        lambda k: k + "\ud800",  # a JSON body's lone surrogate, which UTF-8 cannot hash
    ],
)
def test_wrong_keys_are_invalid(user: Any, mangle: Any) -> None:
    _, plain = services.api_key_create(user=user, name="k")
    with pytest.raises(services.InvalidApiKey):
        services.api_key_authenticate(raw_key=mangle(plain))


def test_revoke_is_immediate_and_only_for_the_owner(user: Any, other_user: Any) -> None:
    key, plain = services.api_key_create(user=user, name="k")
    assert not services.api_key_revoke(user=other_user, key_id=key.pk)
    services.api_key_authenticate(raw_key=plain)
    assert services.api_key_revoke(user=user, key_id=key.pk)
    with pytest.raises(services.RevokedApiKey):
        services.api_key_authenticate(raw_key=plain)
    assert not services.api_key_revoke(user=user, key_id=key.pk)  # already revoked


def test_inactive_users_keys_stop_working(user: Any) -> None:
    _, plain = services.api_key_create(user=user, name="k")
    user.is_active = False
    user.save()
    with pytest.raises(services.InvalidApiKey):
        services.api_key_authenticate(raw_key=plain)


def test_createapikey_prints_the_key_last(user: Any) -> None:
    out = StringIO()
    call_command("createapikey", user.username, "--name", "ci", stdout=out)
    plain = out.getvalue().strip().splitlines()[-1]
    assert services.api_key_authenticate(raw_key=plain).name == "ci"


def test_createapikey_unknown_user(db: Any) -> None:
    with pytest.raises(CommandError, match="no user named 'ghost'"):
        call_command("createapikey", "ghost")


def test_each_key_is_found_by_its_own_prefix(user: Any, other_user: Any) -> None:
    """With many keys stored, each authenticates as its own user, and using one marks only that one as used."""
    first, first_plain = services.api_key_create(user=user, name="first")
    second, second_plain = services.api_key_create(user=other_user, name="second")
    assert services.api_key_authenticate(raw_key=second_plain).pk == second.pk
    assert services.api_key_authenticate(raw_key=second_plain).user == other_user
    first.refresh_from_db()
    assert first.last_used_at is None
    assert services.api_key_authenticate(raw_key=first_plain).user == user


def test_revoking_one_key_leaves_the_others_working(user: Any) -> None:
    kept, kept_plain = services.api_key_create(user=user, name="kept")
    revoked, revoked_plain = services.api_key_create(user=user, name="revoked")
    assert services.api_key_revoke(user=user, key_id=revoked.pk)
    assert services.api_key_authenticate(raw_key=kept_plain) == kept
    with pytest.raises(services.RevokedApiKey):
        services.api_key_authenticate(raw_key=revoked_plain)


def revoked_key(user: Any, name: str, *, days_ago: float) -> ApiKey:
    key, _ = services.api_key_create(user=user, name=name)
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now() - timedelta(days=days_ago))
    return key


def test_the_purge_deletes_the_keys_revoked_over_30_days_ago_and_keeps_the_others(user: Any, other_user: Any) -> None:
    """A revoked key's row was kept for good: a script that made and revoked a key each hour added 720 rows a month
    to its account page. As the workers' daily sweep (purge_expired runs it too), with retention on or off."""
    revoked_key(user, "revoked a month ago", days_ago=31)
    revoked_key(other_user, "theirs, a month ago", days_ago=31)
    revoked_key(user, "revoked 29 days ago", days_ago=29)
    in_use, plain = services.api_key_create(user=user, name="in use for a year")
    ApiKey.objects.filter(pk=in_use.pk).update(created_at=timezone.now() - timedelta(days=365))

    call_command("purge_expired", stdout=StringIO())

    assert sorted(ApiKey.objects.values_list("name", flat=True)) == ["in use for a year", "revoked 29 days ago"]
    assert services.api_key_authenticate(raw_key=plain) == in_use


def test_the_purge_deletes_the_keys_revoked_over_30_days_ago_with_retention_off_too(user: Any, settings: Any) -> None:
    settings.RETENTION_DAYS = 0
    revoked_key(user, "revoked a month ago", days_ago=31)
    revoked_key(user, "revoked 29 days ago", days_ago=29)
    call_command("purge_expired", stdout=StringIO())
    assert list(ApiKey.objects.values_list("name", flat=True)) == ["revoked 29 days ago"]


def test_a_deleted_keys_account_keeps_its_batches_images_and_usage(user: Any) -> None:
    """Nothing refers to a key's row (a batch, an image, a day's usage are the account's, whichever key sent them), so
    deleting one takes nothing else with it; a relation added to it one day must not either."""
    revoked_key(user, "sent the batch", days_ago=31)
    item = make_item(Batch.objects.create(owner=user), "done")
    DailyUsage.objects.create(owner=user, day=timezone.now().date(), images=1)

    call_command("purge_expired", stdout=StringIO())

    assert not ApiKey.objects.exists()
    assert Item.objects.filter(pk=item.pk, batch__owner=user).exists()
    assert DailyUsage.objects.get(owner=user).images == 1
    cascading = [relation for relation in ApiKey._meta.related_objects if relation.on_delete is models.CASCADE]
    assert cascading == []


def test_an_account_keeps_its_last_revoked_keys_and_revoking_one_more_deletes_the_first(user: Any) -> None:
    """Keys made and revoked in a loop each kept a row on the account page, some 720 a month for a key an hour: an
    account keeps MAX_REVOKED_API_KEYS revoked keys, and its keys in use whatever their number."""
    in_use, plain = services.api_key_create(user=user, name="in use")
    for number in range(services.MAX_REVOKED_API_KEYS + 1):
        key, _ = services.api_key_create(user=user, name=f"rotated {number}")
        assert services.api_key_revoke(user=user, key_id=key.pk)

    revoked = ApiKey.objects.filter(user=user, revoked_at__isnull=False).values_list("name", flat=True)
    assert len(revoked) == services.MAX_REVOKED_API_KEYS
    assert "rotated 0" not in revoked and f"rotated {services.MAX_REVOKED_API_KEYS}" in revoked
    assert services.api_key_authenticate(raw_key=plain) == in_use


def test_the_key_limit_counts_only_the_accounts_own_keys_in_use(user: Any, other_user: Any) -> None:
    for number in range(services.MAX_API_KEYS):
        services.api_key_create(user=other_user, name=f"k{number}")
    services.api_key_create(user=user, name="mine")  # another account's keys leave room for this one's
    with pytest.raises(services.TooManyApiKeys):
        services.api_key_create(user=other_user, name="one too many")


def test_a_long_name_is_cut_to_the_column(user: Any) -> None:
    key, _ = services.api_key_create(user=user, name="n" * 150)
    assert ApiKey.objects.get(pk=key.pk).name == "n" * 100


def test_of_two_keys_made_at_once_for_the_last_place_one_is_refused(database_env: dict[str, str]) -> None:
    """Both counted the account's keys before either saved (tests/accounts/api_key_race.py): the count was made before
    the key's transaction, and each of a burst of creations found room, 51 keys in use of MAX_API_KEYS 50."""
    done = python(database_env, "-m", "tests.accounts.api_key_race")
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome == {"outcomes": ["made", "refused"], "in_use": MAX_API_KEYS}


KEYS_LISTED = """
import django
django.setup()
from django.contrib.auth.models import User
from django.core.management import call_command
from accounts import selectors, services
call_command("migrate", verbosity=0)
user = User.objects.create_user("lister")
revoked, _ = services.api_key_create(user=user, name="revoked")
services.api_key_create(user=user, name="in use")
services.api_key_revoke(user=user, key_id=revoked.pk)
print([key.name for key in selectors.api_keys_for(user)])
"""


def test_the_keys_in_use_are_listed_before_the_revoked_ones_on_either_database(database_env: dict[str, str]) -> None:
    """On PostgreSQL, which sorts an empty revoked_at after the others, the revoked keys came first, up to
    MAX_REVOKED_API_KEYS of them above the keys in use."""
    listed = python(database_env, "-c", KEYS_LISTED)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip().splitlines()[-1] == "['in use', 'revoked']"
