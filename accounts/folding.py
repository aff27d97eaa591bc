"""How usernames and e-mail addresses are compared: two spellings that fold alike name one account.

Unicode's caseless match of identifiers ("ÖMER" and "ömer", "straße" and "STRASSE", full-width letters), and an
address's domain in IDNA's ASCII spelling ("x@éxample.com" is "x@xn--xample-9ua.com"). No database folds so (SQLite's
case-insensitive match folds ASCII letters only), so each account's folded names are kept beside it, as their
SHA-256 (`folded_key`), indexed (accounts.models.FoldedNames). Plain functions, without Django: the migration that
first fills those keys uses them too."""

import hashlib
import unicodedata


def folded(text: str) -> str:
    """Unicode's caseless match of identifiers (NFKC, case folded, NFKC again)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def email_folded(email: str) -> str:
    local, _, domain = email.rpartition("@")
    return f"{folded(local)}@{folded(domain_ascii(domain))}"


def domain_ascii(domain: str) -> str:
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:  # not a name IDNA can spell; compared as it is
        return domain


def folded_key(text: str) -> str:
    """What is stored and looked up for a folded name: its SHA-256, a fixed 64 characters whatever the name (NFKC
    makes some characters 18, past what a PostgreSQL index takes in a row)."""
    return hashlib.sha256(text.encode()).hexdigest()


def username_key(username: str) -> str:
    return folded_key(folded(username))


def email_key(email: str) -> str:
    """'' for no address: accounts without one do not share it."""
    return folded_key(email_folded(email)) if email else ""
