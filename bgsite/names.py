"""The one rule on what a name a person gives (a batch's, an API key's) may not hold, shared by both apps."""

import unicodedata

# Control characters (a tab, a line feed, a bell, C1's next line) and the line and paragraph separators (U+2028,
# U+2029), which break a line as a line feed does: a name holding one is shown as another than the one typed.
NOT_IN_A_NAME = frozenset({"Cc", "Zl", "Zp"})


def breaks_a_name(text: str) -> bool:
    """Whether `text` holds a character no name may: a control character or a line or paragraph separator."""
    return any(unicodedata.category(character) in NOT_IN_A_NAME for character in text)
