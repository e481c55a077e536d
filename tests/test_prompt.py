import pytest

import gliclass
from gliclass import labels_apart, prompt
from gliclass.prompt import PromptEncoder, check_labels, check_text, format_examples


@pytest.fixture
def tokenizer(make_model):
    return make_model().tokenizer


def test_input_strings_follow_the_reference_format(tokenizer):
    labels_first = PromptEncoder(tokenizer, prompt_first=True, max_length=128)
    assert labels_first.build_string("hi", ["a", "b c"], "Topic:") == ("<<LABEL>>a<<LABEL>>b c<<SEP>>Topic:hi", 35)
    text_first = PromptEncoder(tokenizer, prompt_first=False, max_length=128)
    assert text_first.build_string("hi", ["a"], "", "<<EXAMPLE>>x<<SEP>>") == (
        "hi<<LABEL>>a<<SEP>><<EXAMPLE>>x<<SEP>>",
        0,
    )
    assert format_examples([{"text": "x y", "labels": ["a", "b"]}]) == "<<EXAMPLE>>x y \nLabels:\n a, b<<SEP>>"


def test_ids_equal_tokenizing_the_whole_string_when_it_fits(tokenizer):
    encoder = PromptEncoder(tokenizer, prompt_first=True, max_length=128)
    [row] = encoder.encode(["the team won"], [["sports", "politics"]], ["Classify:"], [""])
    string, _ = encoder.build_string("the team won", ["sports", "politics"], "Classify:")
    assert row.input_ids == tokenizer(string)["input_ids"]


@pytest.mark.parametrize("prompt_first", [True, False])
def test_long_text_is_truncated_never_the_labels(tokenizer, prompt_first):
    encoder = PromptEncoder(tokenizer, prompt_first=prompt_first, max_length=64)
    labels = ["sports", "politics", "business"]
    text = "the team won the championship " * 30
    [row] = encoder.encode([text], [labels], [""], [""])
    assert len(row.input_ids) == 64
    label_id = tokenizer.convert_tokens_to_ids("<<LABEL>>")
    assert row.input_ids.count(label_id) == 3
    assert row.input_ids[0] == tokenizer.cls_token_id and row.input_ids[-1] == tokenizer.sep_token_id
    decoded = tokenizer.decode(row.input_ids)
    assert all(label in decoded for label in labels)


def test_windows_cover_the_whole_text(tokenizer):
    encoder = PromptEncoder(tokenizer, prompt_first=True, max_length=40, window_overlap=8)
    words = [f"w{i % 10}" for i in range(200)]
    rows = encoder.encode([" ".join(words)], [["a", "b"]], [""], [""], windows=True)
    assert len(rows) > 3 and all(len(r.input_ids) <= 40 for r in rows)
    assert [r.window for r in rows] == list(range(len(rows)))
    full = tokenizer(" ".join(words), add_special_tokens=False)["input_ids"]
    prefix = len(tokenizer("<<LABEL>>a<<LABEL>>b<<SEP>>")["input_ids"]) - 1
    last_text = rows[-1].input_ids[prefix:-1]
    assert last_text == full[-len(last_text) :]


def test_windows_beside_label_groups_keep_half_the_row_for_the_text(tokenizer):
    """Every group meets every window, so windows of only `min_text_tokens` would multiply the rows."""
    encoder = PromptEncoder(tokenizer, prompt_first=True, max_length=64, min_text_tokens=8, window_overlap=8)
    labels = [f"label {i}" for i in range(40)]
    rows = encoder.encode([" ".join(f"w{i % 10}" for i in range(300))], [labels], [""], [""], windows=True)
    groups = sorted({(row.label_start, row.label_end) for row in rows})
    assert groups[0][0] == 0 and groups[-1][1] == 40 and all(a[1] == b[0] for a, b in zip(groups, groups[1:]))
    sep = tokenizer.convert_tokens_to_ids("<<SEP>>")
    for group in groups:
        windows = [row for row in rows if (row.label_start, row.label_end) == group]
        assert [row.window for row in windows] == list(range(len(windows))) and len(windows) > 1
        text_tokens = [
            len(row.input_ids) - row.input_ids.index(sep) - 2 for row in windows
        ]  # after <<SEP>>, before [SEP]
        assert min(text_tokens[:-1]) >= (64 - 3) // 2  # half of what [CLS] <<SEP>> [SEP] leave
    short = ["the team won"]
    assert len(encoder.encode(short, [labels], [""], [""], windows=True)) == len(
        encoder.encode(short, [labels], [""], [""])
    )


def test_too_many_labels_are_split_into_groups(tokenizer):
    encoder = PromptEncoder(tokenizer, prompt_first=True, max_length=48, min_text_tokens=8)
    labels = [f"label {i}" for i in range(40)]
    rows = encoder.encode(["the team won"], [labels], [""], [""])
    assert len(rows) > 1
    assert rows[0].label_start == 0 and rows[-1].label_end == 40
    assert all(a.label_end == b.label_start for a, b in zip(rows, rows[1:]))
    label_id = tokenizer.convert_tokens_to_ids("<<LABEL>>")
    assert sum(r.input_ids.count(label_id) for r in rows) == 40
    assert all(len(r.input_ids) <= 48 for r in rows)


def test_a_label_that_cannot_fit_is_an_error(tokenizer):
    encoder = PromptEncoder(tokenizer, prompt_first=True, max_length=24, min_text_tokens=8)
    with pytest.raises(ValueError, match="needs .* tokens"):
        encoder.encode(["hi there"], [["word " * 30]], [""], [""])


@pytest.mark.parametrize(
    "labels, error, match",
    [
        ([], ValueError, "empty"),
        (["a", ""], ValueError, "empty label"),
        (["a", "a"], ValueError, "twice"),
        (["a", 3], TypeError, "string"),
        (["<<LABEL>>x"], ValueError, "reserved"),
        (None, TypeError, "list of strings"),
    ],
)
def test_bad_labels(labels, error, match):
    with pytest.raises(error, match=match):
        check_labels(labels)


def test_comma_separated_labels():
    assert check_labels("sports, politics ,science") == ["sports", "politics", "science"]


@pytest.mark.parametrize("text, error", [("", ValueError), ("   ", ValueError), (None, TypeError), (5, TypeError)])
def test_bad_text(text, error):
    with pytest.raises(error):
        check_text(text)


def test_length_caches_stay_bounded_and_hold_under_threads(tokenizer, make_embedder, monkeypatch, run_in_threads):
    """A service with ever new labels and prompts keeps a bounded number of cached lengths and token
    ids, and threads sharing an encoder never see an entry cleared halfway (a KeyError before)."""
    monkeypatch.setattr(prompt, "MAX_CACHED_OVERHEADS", 4)
    monkeypatch.setattr(prompt, "MAX_CACHED_LABEL_LENGTHS", 4)
    monkeypatch.setattr(labels_apart, "MAX_CACHED_LABEL_IDS", 4)
    encoder = PromptEncoder(tokenizer, prompt_first=True, max_length=128)
    for index in range(20):
        encoder.encode(["the team won"], [[f"label {index}", "sports"]], [f"Request {index}:"], [""])
    assert len(encoder._overheads) <= 4 and len(encoder._label_lengths) <= 4
    builder = gliclass.pipeline(model=make_embedder(), device="cpu").row_builder

    def step(thread: int, iteration: int) -> None:
        labels = [f"label {(thread + iteration + index) % 12}" for index in range(3)]
        assert builder.label_ids(labels) == [builder._new_label_ids([label])[0] for label in labels]
        encoder.label_groups(labels, f"Request {iteration % 7}:", "")

    run_in_threads(step, seconds=1)
