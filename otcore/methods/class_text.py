"""The text a prompt learner encodes for each class: its name, or its description when it has one.

PLOT-TAL's "verbose" variant (and CoOp / SOT-GLP alike) gives the text tower a description of the
class instead of its bare name. :func:`class_texts` builds those texts; the class *names* stay the
labels of the model (its outputs, its export), only the encoded text changes. A pretrained text tower
is needed for a description to carry meaning; with random frozen weights (``otstudio-tiny``) it only
changes the fixed tokens around the learnt context.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["MAX_DESCRIPTION_WORDS", "class_texts"]

#: Longest description kept, in words: CLIP's text context is 77 tokens including the start, the end,
#: the learnt context vectors and the name; longer text would be cut by the tokenizer mid-word.
MAX_DESCRIPTION_WORDS = 40


def class_texts(
    class_names: Sequence[str],
    descriptions: Mapping[str, str] | None = None,
    *,
    include_name: bool = False,
    max_words: int = MAX_DESCRIPTION_WORDS,
) -> list[str]:
    """Per class (in the order of ``class_names``) the text to encode.

    A class with a non-empty description in ``descriptions`` gets that description (whitespace
    collapsed, trailing full stops dropped because the prompt adds one, at most ``max_words`` words),
    prefixed by ``"<name>: "`` when ``include_name``; any other class its name with ``_`` read as a
    space. Keys of ``descriptions`` that are not class names are ignored (a project's description map
    may cover more labels than one model)."""
    if max_words < 1:
        raise ValueError(f"max_words must be ≥ 1, got {max_words}")
    out: list[str] = []
    for name in class_names:
        label = name.replace("_", " ").strip()
        desc = (descriptions or {}).get(name)
        words = " ".join(str(desc).split()).rstrip(". ").split() if desc else []
        if not words:
            out.append(label)
            continue
        text = " ".join(words[:max_words])
        out.append(f"{label}: {text}" if include_name else text)
    return out
