"""Every released checkpoint family of the reference package loads here and scores as it does there.

Golden fixtures: tests/fixtures/reference_families/<case>/ (tiny random checkpoints of each family,
made with gliclass==0.1.21 by tests/fixtures/make_family_fixtures.py; see each case's README.md).
Also unit tests of the pieces those families need: the hopfield and cross-attn scorers and the
bi-encoder architectures.
"""

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from hub_cache import cached_hub_repository
from transformers import AutoModel, BertConfig

import gliclass
from gliclass import GLiClassConfig, GLiClassModel
from gliclass.labels_apart import LabelsApartInputs, load_label_tokenizer
from gliclass.prompt import EXAMPLE_TOKEN, PromptEncoder, format_examples

FAMILIES = Path(__file__).parent / "fixtures" / "reference_families"
CASES = sorted(p for p in FAMILIES.iterdir() if (p / "expected.json").is_file()) if FAMILIES.is_dir() else []
TOLERANCE = 1e-4


def max_abs_diff(ours: torch.Tensor, expected: list[float]) -> float:
    return (ours.float() - torch.tensor(expected)).abs().max().item()


def load_case(case: Path) -> tuple[GLiClassModel, dict]:
    model = AutoModel.from_pretrained(case).eval()
    assert isinstance(model, GLiClassModel)
    assert (model.label_tokenizer is not None) == model.config.is_bi_encoder  # found in <case>/label_tokenizer/
    return model, json.loads((case / "expected.json").read_text())


def reference_examples(model: GLiClassModel, item: dict) -> list | None:
    """The plain bi-encoder refuses few-shot examples (the reference drops them silently)."""
    return None if model.config.architecture_type == "bi-encoder" else item["examples"]


def test_every_family_has_a_fixture():
    configs = [json.loads((case / "config.json").read_text()) for case in CASES]
    seen = {(c.get("architecture_type"), c["encoder_config"]["model_type"], c.get("scorer_type")) for c in configs}
    assert {"uni-encoder", "bi-encoder", "bi-encoder-fused"} <= {architecture for architecture, _, _ in seen}
    assert {"bert", "deberta-v2", "modernbert"} <= {backbone for _, backbone, _ in seen}
    assert {"simple", "mlp", "hopfield", "cross-attn"} <= {scorer for _, _, scorer in seen}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_reference_checkpoint_gives_reference_token_ids_and_logits(case):
    model, expected = load_case(case)
    config = model.config
    if config.encoder_config.model_type != "bert":  # the BERT-only shortcuts stay off
        assert config.is_bi_encoder or model.model.position_reader is None
    worst = 0.0
    for item in expected["items"]:
        prompt, examples = item["prompt"] or "", format_examples(reference_examples(model, item))
        if config.is_bi_encoder:
            builder = LabelsApartInputs.for_model(config, model.tokenizer, model.label_tokenizer, max_length=512)
            batch = builder.build([item["text"]], [item["labels"]], [prompt], [examples])
            labels = [ids[: sum(mask)] for ids, mask in zip(item["label_input_ids"], item["label_attention_mask"])]
            assert [list(label.input_ids) for label in batch.labels] == labels
            [row] = batch.rows
            inputs = batch.model_inputs(model.tokenizer.pad_token_id, model.label_tokenizer.pad_token_id)
        else:
            [row] = PromptEncoder(model.tokenizer, config.prompt_first, 512).encode(
                [item["text"]], [item["labels"]], [prompt], [examples]
            )
            inputs = {"input_ids": torch.tensor([row.input_ids])}
        assert row.input_ids == item["input_ids"]
        for grad in (False, True):  # the shortcut (no grad) and the full forward
            with torch.set_grad_enabled(grad):
                worst = max(worst, max_abs_diff(model(**inputs).logits[0].detach(), item["logits"]))
    print(f"{case.name}: max |logit diff| = {worst:.2e}")
    assert worst <= TOLERANCE


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_reference_checkpoint_gives_reference_pipeline_scores(case):
    """Through `transformers.pipeline`, as users load a released checkpoint."""
    model, expected = load_case(case)
    clf = transformers.pipeline("zero-shot-multilabel", model=str(case), device="cpu")
    worst = 0.0
    for item in expected["items"]:
        multi = item["classification_type"] == "multi-label"
        result = clf(
            item["text"],
            candidate_labels=item["labels"],
            prompt=item["prompt"],
            examples=reference_examples(model, item),
            multi_label=multi,
        )
        scores = dict(zip(result["labels"], result["scores"]))
        worst = max(worst, max_abs_diff(torch.tensor([scores[label] for label in item["labels"]]), item["scores"]))
    print(f"{case.name}: max |score diff| = {worst:.2e}")
    assert worst <= TOLERANCE


def test_tokenizer_without_example_token_encodes_examples_as_plain_text():
    case = FAMILIES / "bert_uni_encoder"
    model, expected = load_case(case)
    assert EXAMPLE_TOKEN not in model.tokenizer.get_vocab()
    assert not model.config.has_example_token
    assert model.config.marker_token_ids() == (model.config.class_token_index, model.config.text_token_index)
    item = next(item for item in expected["items"] if item["examples"])
    [row] = gliclass.pipeline(model=model, device="cpu").preprocess(
        [item["text"]], item["labels"], examples=item["examples"]
    )["rows"]
    assert row.input_ids == item["input_ids"]


def test_plain_bi_encoder_reads_examples_as_label_evidence():
    """The reference drops a plain bi-encoder's examples; here examples of two labels move those
    labels' vectors (gliclass.example_evidence), and only their scores change."""
    model, expected = load_case(FAMILIES / "bi_encoder")
    item = next(item for item in expected["items"] if item["examples"])
    clf = gliclass.pipeline(model=model, device="cpu")
    plain = clf(item["text"], candidate_labels=item["labels"])
    shots = clf(item["text"], candidate_labels=item["labels"], examples=item["examples"])
    named = {label for example in item["examples"] for label in example["labels"]}
    before, after = dict(zip(plain["labels"], plain["scores"])), dict(zip(shots["labels"], shots["scores"]))
    assert named & set(item["labels"])
    for label in item["labels"]:
        assert (after[label] != pytest.approx(before[label], abs=1e-6)) == (label in named)


# --- unit tests on tiny models --------------------------------------------------------------------


@pytest.fixture
def bi_encoder(backbone_dir, tmp_path):
    """Factory: a tiny bi-encoder (`fused=False`) or fused bi-encoder on the test BERT."""
    from transformers import AutoTokenizer

    def make(fused: bool = False, **options) -> GLiClassModel:
        torch.manual_seed(0)
        tokenizer = AutoTokenizer.from_pretrained(backbone_dir)
        label_tokenizer = AutoTokenizer.from_pretrained(backbone_dir)
        extra = {}
        if fused:
            tokenizer.add_tokens(["<<LABEL>>", "<<SEP>>"], special_tokens=True)
            extra = dict(class_token_index=len(tokenizer) - 2, text_token_index=len(tokenizer) - 1)
        small = dict(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=64,
            max_position_embeddings=128,
        )
        config = GLiClassConfig(
            encoder_config=BertConfig(vocab_size=len(tokenizer), **small),
            encoder_model=str(backbone_dir),
            label_model_config=BertConfig(vocab_size=len(label_tokenizer), **{**small, "hidden_size": 16}),
            label_model_name=str(backbone_dir),
            architecture_type="bi-encoder-fused" if fused else "bi-encoder",
            **extra,
            **options,
        )
        model = GLiClassModel(config).eval()
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.normal_(0, 0.3)
        model.tokenizer, model.label_tokenizer = tokenizer, label_tokenizer
        return model

    return make


@pytest.mark.parametrize(
    "options",
    [dict(scorer_type="hopfield"), dict(scorer_type="cross-attn", pooling_strategy="pass", scorer_num_heads=4)],
)
def test_new_scorers_give_one_logit_per_label_independent_of_padding(make_model, options):
    model = make_model(**options)
    texts = ["the team won the match", "stocks fell as the central bank raised rates again today"]
    encoder = PromptEncoder(model.tokenizer, True, max_length=128)
    rows = encoder.encode(texts, [["sports", "business"], ["a", "b", "c"]], ["", ""], ["", ""])
    ids = torch.zeros(2, max(len(r.input_ids) for r in rows), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, : len(r.input_ids)], mask[i, : len(r.input_ids)] = torch.tensor(r.input_ids), 1
    with torch.no_grad():
        batched = model(ids, mask)
        assert batched.logits.shape == (2, 3) and batched.label_mask[0].tolist() == [True, True, False]
        for i, r in enumerate(rows):
            alone = model(torch.tensor([r.input_ids])).logits[0]
            torch.testing.assert_close(batched.logits[i, : len(alone)], alone, atol=1e-5, rtol=1e-5)


def test_cross_attn_needs_token_level_text():
    with pytest.raises(ValueError, match="pooling_strategy='pass'"):
        encoder = BertConfig(hidden_size=32, num_attention_heads=4)
        GLiClassConfig(encoder_config=encoder, encoder_model="x", scorer_type="cross-attn")


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("pooling", ["first", "avg"])
def test_bi_encoder_pipeline_equals_forward_and_labels_are_encoded_once(bi_encoder, fused, pooling):
    model = bi_encoder(fused=fused, pooling_strategy=pooling)
    clf = gliclass.pipeline(model=model, device="cpu")
    texts = ["the team won the match", "stocks fell as the central bank raised rates again today"]
    labels = ["sports", "business", "science and technology"]
    results = clf(texts, candidate_labels=labels, prompt="Topic:", batch_size=1)
    builder = LabelsApartInputs.for_model(model.config, model.tokenizer, model.label_tokenizer, max_length=128)
    for text, result in zip(texts, results):
        batch = builder.build([text], [labels], ["Topic:"], [""])
        with torch.no_grad():
            logits = model(
                **batch.model_inputs(model.tokenizer.pad_token_id, model.label_tokenizer.pad_token_id)
            ).logits[0]
        scores = dict(zip(result["labels"], result["scores"]))
        torch.testing.assert_close(
            torch.tensor([scores[label] for label in labels]), torch.sigmoid(logits), atol=1e-5, rtol=0
        )
    batch = builder.build(texts, [labels, labels], ["", ""], ["", ""])
    assert len(batch.labels) == len(labels)  # each label once for all texts
    assert batch.row_labels == [[0, 1, 2], [0, 1, 2]]


def test_a_bi_encoder_label_longer_than_its_encoder_takes_is_refused_not_cut(bi_encoder):
    clf = gliclass.pipeline(model=bi_encoder(), device="cpu")
    with pytest.raises(ValueError, match=r"label 'sports sports .* needs \d+ tokens; at most \d+ fit"):
        clf("the team won", candidate_labels=["sports " * 200, "politics"])


def test_label_vectors_do_not_depend_on_batch_padding(bi_encoder):
    model = bi_encoder(pooling_strategy="avg")
    ids = [model.label_tokenizer(label)["input_ids"] for label in ["sports", "science and technology"]]
    width = max(map(len, ids)) + 3
    padded = torch.zeros(2, width, dtype=torch.long)
    mask = torch.zeros_like(padded)
    for row, sequence in enumerate(ids):
        padded[row, : len(sequence)], mask[row, : len(sequence)] = torch.tensor(sequence), 1
    with torch.no_grad():
        together = model.get_label_features(padded, mask)
        for row, sequence in enumerate(ids):
            alone = model.get_label_features(torch.tensor([sequence]), torch.ones(1, len(sequence), dtype=torch.long))
            torch.testing.assert_close(together[row], alone[0], atol=1e-5, rtol=1e-5)


def test_bi_encoder_features_and_score_shapes(bi_encoder):
    model = bi_encoder()
    with torch.no_grad():
        labels = model.get_label_features(torch.tensor([[2, 10, 3], [2, 11, 3]]), torch.ones(2, 3, dtype=torch.long))
        text = model.get_text_features(torch.tensor([[2, 12, 13, 3]]), torch.ones(1, 4, dtype=torch.long))
        logits = model.score(text, labels.unsqueeze(0), torch.ones(1, 2, dtype=torch.bool))
    assert labels.shape == (2, 32) and text.shape == (1, 32) and logits.shape == (1, 2)
    with pytest.raises(ValueError, match="fused_features"):
        bi_encoder(fused=True).get_text_features(torch.tensor([[2, 3]]), torch.ones(1, 2, dtype=torch.long))


def test_bi_encoder_round_trip_keeps_the_label_tokenizer(bi_encoder, tmp_path):
    model = bi_encoder(fused=True)
    model.save_pretrained(tmp_path / "model")
    assert (tmp_path / "model" / "label_tokenizer").is_dir()
    loaded = GLiClassModel.from_pretrained(tmp_path / "model").eval()
    assert load_label_tokenizer(loaded.config, tmp_path / "model").get_vocab() == model.label_tokenizer.get_vocab()
    state = loaded.state_dict()
    assert all(torch.equal(value, state[name]) for name, value in model.state_dict().items())


def test_a_bi_encoder_by_hub_id_reads_the_label_tokenizer_of_its_hub_repository(tmp_path):
    """A saved bi-encoder pushed to the hub keeps its label tokenizer in `label_tokenizer/`; loaded by
    hub id (here from a hub cache, offline) it is read from there, not from `label_model_name`."""
    missing = ("label_tokenizer/config.json",)  # the hub answered 404 for it: no config.json is saved there
    cached_hub_repository(tmp_path, "someone/tiny-bi-encoder", FAMILIES / "bi_encoder", missing)
    model = GLiClassModel.from_pretrained("someone/tiny-bi-encoder", cache_dir=str(tmp_path), local_files_only=True)
    local = GLiClassModel.from_pretrained(FAMILIES / "bi_encoder")
    assert model.label_tokenizer.get_vocab() == local.label_tokenizer.get_vocab()
    assert model.config.label_model_name == "tiny-random-bge-label-encoder"  # not a tokenizer anywhere


def test_a_bi_encoder_downloaded_whole_loads_offline_without_a_label_tokenizer_config(tmp_path):
    """`hf download` records no 404s; the label tokenizer's folder has no config.json, which offline
    transformers would otherwise look for in vain."""
    cached_hub_repository(tmp_path, "someone/tiny-bi-encoder", FAMILIES / "bi_encoder")
    model = GLiClassModel.from_pretrained("someone/tiny-bi-encoder", cache_dir=str(tmp_path), local_files_only=True)
    local = GLiClassModel.from_pretrained(FAMILIES / "bi_encoder")
    assert model.label_tokenizer.get_vocab() == local.label_tokenizer.get_vocab()


def test_the_label_model_named_by_hub_id_is_looked_up_in_the_given_cache_dir(tmp_path):
    """A released bi-encoder by hub id, without `label_tokenizer/`, reads `label_model_name` with the
    load's `cache_dir` and `local_files_only` (not only from the default cache)."""
    folder = copied_case("bi_encoder", tmp_path, label_model_name="someone/tiny-label-encoder")
    shutil.rmtree(folder / "label_tokenizer")
    label_model = tmp_path / "label_model"
    shutil.copytree(FAMILIES / "bi_encoder" / "label_tokenizer", label_model)
    BertConfig(**json.loads((folder / "config.json").read_text())["label_model_config"]).save_pretrained(label_model)
    cache = tmp_path / "cache"
    cached_hub_repository(cache, "someone/tiny-label-encoder", label_model)
    missing = ("label_tokenizer/config.json", "label_tokenizer/tokenizer_config.json")
    cached_hub_repository(cache, "someone/released-bi-encoder", folder, missing)
    model = GLiClassModel.from_pretrained("someone/released-bi-encoder", cache_dir=str(cache), local_files_only=True)
    assert (
        model.label_tokenizer.get_vocab()
        == GLiClassModel.from_pretrained(FAMILIES / "bi_encoder").label_tokenizer.get_vocab()
    )


def test_missing_label_tokenizer_is_a_clear_error(bi_encoder, tmp_path):
    config = bi_encoder().config
    config.label_model_name = str(tmp_path / "nowhere")
    with pytest.raises(OSError, match="label tokenizer"):
        load_label_tokenizer(config, tmp_path)


def copied_case(name: str, tmp_path: Path, **changes) -> Path:
    """A copy of a reference fixture with `config.json` keys changed (None: removed)."""
    folder = tmp_path / name
    shutil.copytree(FAMILIES / name, folder)
    config = json.loads((folder / "config.json").read_text())
    for key, value in changes.items():
        config.pop(key) if value is None else config.__setitem__(key, value)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_reference_options_that_only_train_differently_load_and_score_the_same(tmp_path):
    """`layer_wise` adds a training loss on every layer in the reference; scores do not change."""
    item = json.loads((FAMILIES / "deberta_v3_uni_encoder" / "expected.json").read_text())["items"][0]
    clf = gliclass.pipeline(model=copied_case("deberta_v3_uni_encoder", tmp_path, layer_wise=True), device="cpu")
    multi = item["classification_type"] == "multi-label"
    options = {"prompt": item["prompt"], "examples": item["examples"], "multi_label": multi}
    scores = clf.score_texts([item["text"]], item["labels"], **options)[0]
    assert max_abs_diff(scores, item["scores"]) <= TOLERANCE


def test_a_config_without_prompt_first_is_read_as_the_reference_reads_it(tmp_path):
    with pytest.warns(UserWarning, match="no prompt_first"):
        model = GLiClassModel.from_pretrained(copied_case("deberta_v3_uni_encoder", tmp_path, prompt_first=None))
    assert model.config.prompt_first is False
    saved = tmp_path / "saved"
    model.save_pretrained(saved)  # written with the field, so it loads the same without a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert GLiClassModel.from_pretrained(saved).config.prompt_first is False


def test_fixed_label_slots_with_the_hopfield_scorer_are_refused(tmp_path):
    folder = copied_case("deberta_v3_uni_encoder_hopfield", tmp_path, max_labels_alloc="fixed")
    with pytest.raises(ValueError, match="max_labels_alloc='fixed' with the hopfield scorer"):
        GLiClassModel.from_pretrained(folder)
    assert GLiClassModel.from_pretrained(copied_case("deberta_v3_uni_encoder", tmp_path, max_labels_alloc="fixed"))


def test_a_deberta_v3_checkpoint_reads_as_many_tokens_as_the_reference():
    """Relative positions only: the reference reads up to 1024 tokens (its pipeline's max_length),
    not the 512 of position embeddings the backbone does not use (tests/fixtures/make_long_text_fixture.py)."""
    case = FAMILIES / "deberta_v3_uni_encoder"
    expected = json.loads((case / "long_text.json").read_text())
    clf = gliclass.pipeline(model=case, device="cpu")
    assert clf.row_builder.max_length == expected["max_length"]
    for item in expected["items"]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            scores = clf.score_texts([item["text"]], item["labels"])[0]
        assert max_abs_diff(scores, item["scores"]) <= TOLERANCE
        assert any("did not fit in 1024 tokens" in str(w.message) for w in caught) == (item["tokens"] > 1024)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_reference_call_form_gives_the_reference_predictions(case):
    """Code written for the reference package runs unchanged: `ZeroShotClassificationPipeline(model,
    tokenizer)(text, labels, threshold=...)[0]` is its list of `{"label", "score"}`."""
    model, expected = load_case(case)
    tokenizer = model.tokenizer
    for item in expected["items"]:
        pipe = gliclass.ZeroShotClassificationPipeline(
            model, tokenizer, classification_type=item["classification_type"], progress_bar=False
        )  # device "cuda:0", the reference's default, falls back to the CPU here as there
        [predictions] = pipe(
            item["text"],
            item["labels"],
            threshold=item["threshold"],
            prompt=item["prompt"],
            examples=reference_examples(model, item),
        )
        assert [p["label"] for p in predictions] == [p["label"] for p in item["predictions"]]
        for ours, theirs in zip(predictions, item["predictions"]):
            assert ours["score"] == pytest.approx(theirs["score"], abs=TOLERANCE)


CHUNKING_CASES = [case for case in CASES if (case / "chunking.json").is_file()]


def assert_same_answers(ours: object, theirs: object) -> None:
    """Equal answers (labels, order, shape), scores within TOLERANCE."""
    if isinstance(theirs, float):
        assert ours == pytest.approx(theirs, abs=TOLERANCE)
    elif isinstance(theirs, dict):
        assert isinstance(ours, dict) and list(ours) == list(theirs)
        for key in theirs:
            assert_same_answers(ours[key], theirs[key])
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs)
        for mine, reference in zip(ours, theirs):
            assert_same_answers(mine, reference)
    else:
        assert ours == theirs


@pytest.mark.parametrize("case", CHUNKING_CASES, ids=[c.name for c in CHUNKING_CASES])
def test_the_reference_chunking_pipeline_gives_the_reference_answers(case):
    """`ZeroShotClassificationWithChunkingPipeline`: label groups, character chunks of long texts, max
    over chunks, hierarchies, as the reference answered them (tests/fixtures/make_chunking_fixture.py)."""
    model, _ = load_case(case)
    assert {"uni-encoder"} == {model.config.architecture_type}
    for recorded in json.loads((case / "chunking.json").read_text())["calls"]:
        pipe = gliclass.ZeroShotClassificationWithChunkingPipeline(
            model, model.tokenizer, progress_bar=False, **recorded["init"]
        )
        assert_same_answers(pipe(**recorded["call"], batch_size=3), recorded["answers"])


def test_the_chunking_pipeline_chunks_as_the_reference_and_checks_its_sizes():
    model, _ = load_case(FAMILIES / "deberta_v3_uni_encoder")
    pipe = gliclass.ZeroShotClassificationWithChunkingPipeline(model, device="cpu", progress_bar=False)
    assert pipe.model is model and pipe.tokenizer is pipe.pipe.tokenizer and pipe.device == torch.device("cpu")
    assert pipe.chunk_text("abcdefghij", 4, 1) == ["abcd", "defg", "ghij"]
    assert pipe.chunk_text("abcdefghijk", 4, 0) == ["abcd", "efgh", "ijk"]
    assert pipe.chunk_text("abcd", 4, 3) == ["abcd"]
    with pytest.raises(ValueError, match="text_chunk_overlap must be an integer from 0 to less than"):
        pipe.chunk_text("abcdefgh", 4, 4)  # would never end
    with pytest.raises(ValueError, match="labels_chunk_size must be a positive integer"):
        gliclass.ZeroShotClassificationWithChunkingPipeline(model, device="cpu", labels_chunk_size=0)
    with pytest.raises(ValueError, match="text_chunk_overlap"):
        pipe("a text", ["a", "b"], text_chunk_size=100, text_chunk_overlap=-1)
    assert pipe.text_chunk_size == 8192  # a refused call changes nothing
    pipe("a text", ["a", "b"], text_chunk_size=100, text_chunk_overlap=10)
    assert (pipe.text_chunk_size, pipe.text_chunk_overlap) == (100, 10)  # kept, as the reference keeps them
    with pytest.raises(ValueError, match="one label set for all texts"):
        pipe(["a", "b"], [["x", "y"], ["z"]])
    with pytest.raises(TypeError, match="text 1 must be a string"):
        pipe(["a text", 3], ["x", "y"])
    assert pipe([], ["x", "y"]) == []
    long_text = "The home team scored a late goal to win the cup final. " * 40
    single = gliclass.ZeroShotClassificationWithChunkingPipeline(
        model, device="cpu", progress_bar=False, classification_type="single-label", text_chunk_size=300
    )
    [[best]] = single(long_text, ["sports", "politics", "business"])
    scores = single(long_text, ["sports", "politics", "business"], return_hierarchical=True)[0]
    assert sum(scores.values()) == pytest.approx(1.0) and best == {
        "label": max(scores, key=scores.get),
        "score": scores[best["label"]],
    }


EMBEDDING_CASES = [case for case in CASES if (case / "embeddings.json").is_file()]


@pytest.mark.parametrize("case", EMBEDDING_CASES, ids=[c.name for c in EMBEDDING_CASES])
def test_get_embeddings_gives_the_reference_logits_and_vectors(case):
    """`get_embeddings` of the reference call form: the logits and the projected text and label vectors
    the reference gave (tests/fixtures/make_embeddings_fixture.py), hierarchies, prompts, per-text labels and
    examples included. Token-level text (`pooling_strategy='pass'`) is the text's tokens only. With one label
    list per text the reference pads every text to the longest list (a logit and a vector for each padding
    slot); here a text has its own labels only."""
    model, _ = load_case(case)
    pipe = gliclass.ZeroShotClassificationPipeline(model, device="cpu", progress_bar=False)
    for recorded in json.loads((case / "embeddings.json").read_text())["calls"]:
        call = recorded["call"]
        answers = pipe.get_embeddings(**call, batch_size=2)
        assert len(answers) == len(recorded["answers"])
        per_text = isinstance(call["labels"], list) and isinstance(call["labels"][0], list)
        for index, (ours, theirs) in enumerate(zip(answers, recorded["answers"])):
            assert list(ours) == ["logits", "text_embedding", "class_embeddings"]
            count = len(pipe.flatten_labels(call["labels"][index] if per_text else call["labels"]))
            theirs = {
                **theirs,
                "logits": theirs["logits"][:count],
                "class_embeddings": theirs["class_embeddings"][:count],
            }
            for key in ours:
                assert ours[key].shape == np.array(theirs[key]).shape, key
                assert max_abs_diff(torch.from_numpy(ours[key]), theirs[key]) < TOLERANCE, key


def test_get_embeddings_are_the_vectors_the_pipeline_scores():
    """The shipped model (labels encoded apart, score calibration): `get_embeddings` logits are those of
    `text_logits` (no label biases here); a text too long beside its labels is cut; per-text labels work;
    examples read as label evidence, options that do not apply and labels that need two inputs are refused."""
    clf = gliclass.pipeline()
    texts = ["The striker scored twice in the final.", "The central bank raised interest rates."]
    labels = ["sports", "business", "politics"]
    found = clf.get_embeddings(texts, labels)
    assert torch.allclose(torch.stack([item["logits"] for item in found]), clf.text_logits(texts, labels), atol=1e-5)
    assert [tuple(item["label_embeddings"].shape) for item in found] == [(3, 384)] * 2
    assert found[0]["text_embedding"].shape == (384,)
    per_text = clf.get_embeddings(texts, [["sports"], ["politics", "business"]])
    [alone] = clf.get_embeddings(texts[1], ["politics", "business"])  # calibrated logits depend on the label set
    assert torch.allclose(per_text[1]["logits"], alone["logits"], atol=1e-5)
    assert torch.allclose(per_text[1]["label_embeddings"], found[1]["label_embeddings"][[2, 1]], atol=1e-5)
    assert torch.allclose(per_text[1]["text_embedding"], found[1]["text_embedding"], atol=1e-5)
    with pytest.raises(ValueError, match="reads examples= as evidence"):
        clf.get_embeddings(texts, labels, examples=[{"text": "A goal.", "labels": ["sports"]}])
    with pytest.raises(TypeError, match="not threshold"):
        clf.get_embeddings(texts, labels, threshold=0.5)
    joint, _ = load_case(FAMILIES / "deberta_v3_uni_encoder")
    short = gliclass.ZeroShotMultilabelPipeline(model=joint, device="cpu", max_length=64)
    many = [f"label number {index}" for index in range(40)]
    with pytest.raises(ValueError, match="text 0 and its 40 labels do not fit in one encoder input"):
        short.get_embeddings(["a text"], many)
    with pytest.warns(UserWarning, match="cut"):
        [item] = short.get_embeddings(["word " * 200], labels)
    assert item["logits"].shape == (3,)


def test_labels_that_fit_beside_a_short_text_are_read_in_one_input():
    """As the reference reads them: at a small max_length a short text leaves the labels its unused
    room instead of splitting them into groups (which changes a joint model's scores)."""
    model, _ = load_case(FAMILIES / "bert_uni_encoder")
    labels = [f"intent number {index}" for index in range(14)]  # about 70 tokens
    small = gliclass.ZeroShotMultilabelPipeline(model=model, device="cpu", max_length=96)
    large = gliclass.ZeroShotMultilabelPipeline(model=model, device="cpu")
    rows = small.preprocess("a short text", candidate_labels=labels)["rows"]
    assert len(rows) == 1
    assert torch.allclose(small.score_texts(["a short text"], labels), large.score_texts(["a short text"], labels))
    long_text = "word " * 200  # keeps its min_text_tokens: the labels are split
    assert len(small.preprocess(long_text, candidate_labels=labels)["rows"]) > 1


def test_the_reference_call_form_reads_a_label_string_and_a_one_label_example_as_the_pipeline_does():
    """The reference scores each character of a label string as a label, and crashes on bi-encoders."""
    model, _ = load_case(FAMILIES / "deberta_v3_uni_encoder")
    pipe = gliclass.ZeroShotClassificationPipeline(model, device="cpu", progress_bar=False)
    text = "The football club won the final match."
    assert pipe(text, "sports, politics", threshold=0) == pipe(text, ["sports", "politics"], threshold=0)
    one = [{"text": "a draw after extra time", "labels": "sports"}]
    assert pipe(text, ["sports", "politics"], threshold=0, examples=one) == pipe(
        text, ["sports", "politics"], threshold=0, examples=[{**one[0], "labels": ["sports"]}]
    )


def test_return_hierarchical_gives_a_label_string_its_labels_scores():
    """A label string is comma-separated labels, also with `return_hierarchical=True` (it raised KeyError)."""
    model, _ = load_case(FAMILIES / "deberta_v3_uni_encoder")
    text = "The football club won the final match."
    for pipe in (
        gliclass.ZeroShotClassificationPipeline(model, device="cpu", progress_bar=False),
        gliclass.ZeroShotClassificationWithChunkingPipeline(model, device="cpu", progress_bar=False),
    ):
        shaped = pipe(text, "sports, politics", return_hierarchical=True)
        assert shaped == pipe(text, ["sports", "politics"], return_hierarchical=True)
        assert list(shaped[0]) == ["sports", "politics"]


def test_none_entries_of_an_example_list_are_skipped_as_the_reference_skips_them():
    model, _ = load_case(FAMILIES / "deberta_v3_uni_encoder")
    pipe = gliclass.ZeroShotClassificationPipeline(model, device="cpu", progress_bar=False)
    texts = ["The football club won the final match.", "Parliament passed the bill."]
    example = {"text": "a draw after extra time", "labels": ["sports"]}
    labels = ["sports", "politics"]
    expected = pipe(texts, labels, threshold=0, examples=[example])
    assert pipe(texts, labels, threshold=0, examples=[example, None]) == expected  # shared
    per_text = pipe(texts, labels, threshold=0, examples=[[None, example], [None]])
    assert per_text == [expected[0], pipe(texts[1], labels, threshold=0)[0]]


def test_the_reference_call_form_takes_hierarchies_and_per_text_settings():
    model, _ = load_case(FAMILIES / "deberta_v3_uni_encoder")
    pipe = gliclass.ZeroShotClassificationPipeline(
        model, str(FAMILIES / "deberta_v3_uni_encoder"), device="cpu", progress_bar=False
    )
    labels = {"sentiment": ["positive", "negative"], "topic": {"sport": ["football", "tennis"], "news": "politics"}}
    names = [
        "sentiment.positive",
        "sentiment.negative",
        "topic.sport.football",
        "topic.sport.tennis",
        "topic.news.politics",
    ]
    texts = ["The football club won the final match.", "Parliament passed the bill."]
    assert pipe.flatten_labels(labels) == names
    scores = pipe.pipe.score_texts(texts, names)
    shaped = pipe(texts, labels, return_hierarchical=True)
    assert shaped[1]["topic"]["sport"]["tennis"] == pytest.approx(scores[1, 3].item())
    assert shaped[0]["topic"]["news"] == {"politics": pytest.approx(scores[0, 4].item())}
    answers = pipe(texts, labels, threshold=[0.0, 1.01], classification_type=["multi", "multi_label"])
    assert [p["label"] for p in answers[0]] == names and answers[1] == []
    single = pipe(texts, [["a", "b"], ["c", "d", "e"]], classification_type="single")
    assert [len(answer) for answer in single] == [1, 1] and single[1][0]["label"] in ("c", "d", "e")
    with pytest.raises(ValueError, match="classification_type"):
        pipe(texts, names, classification_type="ranking")
    with pytest.raises(ValueError, match="2 values of threshold for 1 texts"):
        pipe(texts[0], names, threshold=[0.5, 0.5])
    examples = [{"text": "The match went to extra time.", "labels": ["sentiment.positive"]}]
    positional = pipe(texts, names, 0.0, 8, None, None, examples)  # the reference's argument order
    assert positional == pipe(texts, names, threshold=0.0, examples=examples)
    assert pipe(texts, names, examples=[examples, None])[1] == pipe(texts[1], names)[0]
    assert gliclass.BiEncoderZeroShotClassificationPipeline is gliclass.ZeroShotClassificationPipeline
    assert gliclass.config.GLiClassModelConfig is GLiClassConfig
    with pytest.raises(TypeError, match="threshold must be a number"):
        pipe(texts, names, threshold=[0.5, None])
    with pytest.raises(ValueError, match="batch_size"):
        pipe(texts, names, batch_size=0)
    with pytest.raises(TypeError, match="rac_examples"):
        pipe(texts[0], names, rac_examples=[{"text": "x", "labels": ["a"]}])
    for texts_given in (None, {"a text"}, b"a text"):
        with pytest.raises(TypeError, match="texts must be a string or a list of strings"):
            pipe(texts_given, names)
