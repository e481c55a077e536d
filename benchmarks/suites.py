"""The GLiClass paper's zero-shot suite: 14 hub datasets with their splits, columns and label names.

Hub ids, configs, columns and splits follow the GLiClass authors' evaluation script
(`test_gliclass.py` in knowledgator/GLiClass): the `test` split where there is one, else `train`;
labels from the label column's class names, or from its strings. We give every label a
natural-language name (the authors passed some raw, e.g. `rec.sport.hockey`, `ham`, `neg`);
`names` maps raw labels to them and `humanize` covers the rest (`card_arrival` -> `card arrival`).

Departures, forced by `datasets>=4` (no loading scripts): financial_phrasebank, massive and
banking77 are read from the hub's Parquet export (`revision="refs/convert/parquet"`). snips is not
in the authors' script; we use `benayas/snips`, the common Parquet copy of the SNIPS test split.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PARQUET_EXPORT = "refs/convert/parquet"


@dataclass(frozen=True)
class HubDataset:
    """Where one hub dataset lives and how to read it as a zero-shot task."""

    name: str
    hub_id: str
    config: str | None = None
    revision: str | None = None
    splits: tuple[str, ...] = ("test", "train")  # the first one the dataset has is used
    text_column: str = "text"
    label_column: str = "label_text"
    names: dict[str, str] = field(default_factory=dict)  # raw label -> natural-language name
    multi_label: bool = False


SENTIMENT = {"neg": "negative", "pos": "positive"}
NEWSGROUPS = {
    "alt.atheism": "atheism",
    "comp.graphics": "computer graphics",
    "comp.os.ms-windows.misc": "microsoft windows",
    "comp.sys.ibm.pc.hardware": "pc hardware",
    "comp.sys.mac.hardware": "mac hardware",
    "comp.windows.x": "x window system",
    "misc.forsale": "for sale",
    "rec.autos": "cars",
    "rec.motorcycles": "motorcycles",
    "rec.sport.baseball": "baseball",
    "rec.sport.hockey": "hockey",
    "sci.crypt": "cryptography",
    "sci.electronics": "electronics",
    "sci.med": "medicine",
    "sci.space": "space",
    "soc.religion.christian": "christianity",
    "talk.politics.guns": "gun politics",
    "talk.politics.mideast": "middle east politics",
    "talk.politics.misc": "politics",
    "talk.religion.misc": "religion",
}

PAPER_SUITE: tuple[HubDataset, ...] = (
    HubDataset("CR", "SetFit/CR"),
    HubDataset("sst2", "SetFit/sst2"),
    HubDataset("sst5", "SetFit/sst5"),
    HubDataset("20_newsgroups", "SetFit/20_newsgroups", names=NEWSGROUPS),
    HubDataset("spam", "SetFit/enron_spam", names={"ham": "not spam"}),
    HubDataset(
        "financial_phrasebank",
        "takala/financial_phrasebank",
        config="sentences_allagree",
        revision=PARQUET_EXPORT,
        text_column="sentence",
        label_column="label",
    ),
    HubDataset("imdb", "stanfordnlp/imdb", label_column="label", names=SENTIMENT),
    HubDataset(
        "ag_news",
        "fancyzhx/ag_news",
        label_column="label",
        names={"World": "world", "Sports": "sports", "Business": "business", "Sci/Tech": "science and technology"},
    ),
    HubDataset("emotion", "dair-ai/emotion", label_column="label"),
    HubDataset("cap_sotu", "MoritzLaurer/cap_sotu", label_column="labels"),
    HubDataset("rotten_tomatoes", "cornell-movie-review-data/rotten_tomatoes", label_column="label", names=SENTIMENT),
    HubDataset(
        "massive",
        "AmazonScience/massive",
        config="en-US",
        revision=PARQUET_EXPORT,
        text_column="utt",
        label_column="intent",
    ),
    HubDataset("banking77", "PolyAI/banking77", revision=PARQUET_EXPORT, label_column="label"),
    HubDataset("snips", "benayas/snips", label_column="category"),
)
SUITES = {"paper": PAPER_SUITE}


def humanize(raw: str) -> str:
    """A readable label name: `card_arrival` -> `card arrival`, `AddToPlaylist` -> `add to playlist`."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", raw.replace("_", " "))
    words = spaced.replace("?", " ").split()
    return " ".join(word if word.isupper() and len(word) > 1 else word.lower() for word in words)


def label_name(spec: HubDataset, raw: str) -> str:
    """The natural-language name of one raw label of `spec`."""
    return spec.names.get(raw, humanize(raw))
