"""Loading never creates random parts and never half-loads: clear errors for what users get wrong."""

import json
import logging.handlers
import shutil
from pathlib import Path

import pytest
import torch
import transformers
from hub_cache import cached_hub_repository
from safetensors.torch import load_file, save_file

import gliclass
from gliclass import GLiClassModel


@pytest.fixture
def saved(make_model, tmp_path):
    folder = tmp_path / "model"
    make_model().save_pretrained(folder)
    return folder


@pytest.mark.parametrize(
    "prefix", ["model.scorer", "model.text_projector", "model.classes_projector", "model.logit_scale"]
)
def test_weights_missing_head_tensors_are_refused(make_model, tmp_path, prefix):
    folder = tmp_path / "model"
    make_model(scorer_type="mlp").save_pretrained(folder)
    weights = load_file(folder / "model.safetensors")
    kept = {name: tensor for name, tensor in weights.items() if not name.startswith(prefix)}
    assert len(kept) < len(weights)
    save_file(kept, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match="missing"):
        GLiClassModel.from_pretrained(folder)
    with pytest.raises(ValueError, match="missing"):
        transformers.pipeline("zero-shot-multilabel", model=str(folder), device="cpu")
    with pytest.raises(ValueError, match="missing"):
        gliclass.pipeline(model=folder, device="cpu")


def test_weights_with_foreign_tensors_are_refused(saved):
    weights = load_file(saved / "model.safetensors")
    weights["model.calibrator.weight"] = weights["model.logit_scale"].clone()
    save_file(weights, saved / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match="unexpected"):
        GLiClassModel.from_pretrained(saved)


def _without_text_projector(weights):
    return {name: tensor for name, tensor in weights.items() if not name.startswith("model.text_projector")}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (_without_text_projector, "missing (e.g. model.text_projector"),
        (lambda weights: {**weights, "model.calibrator.weight": torch.ones(1)}, "unexpected (e.g. model.calibrator"),
        (
            lambda weights: {**weights, "model.logit_scale": weights["model.logit_scale"].reshape(1)},
            "model.logit_scale: [1] in the file, [] in the model",
        ),
    ],
)
def test_refused_weights_are_one_error_without_the_transformers_load_report(saved, change, named):
    """The error names the tensors; transformers' table, which calls them "newly initialized", is not
    logged before it (on the command line the error is then the only line)."""
    save_file(change(load_file(saved / "model.safetensors")), saved / "model.safetensors", metadata={"format": "pt"})
    logged = logging.handlers.BufferingHandler(capacity=100)
    logger = logging.getLogger("transformers.modeling_utils")
    logger.addHandler(logged)
    try:
        with pytest.raises(ValueError) as refused:
            GLiClassModel.from_pretrained(saved)
    finally:
        logger.removeHandler(logged)
    assert named in str(refused.value)
    assert not [record for record in logged.buffer if "LOAD REPORT" in record.getMessage()]


def test_an_unknown_model_type_is_refused(saved):
    config = json.loads((saved / "config.json").read_text())
    config["model_type"] = "bert"
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="model_type='bert'"):
        GLiClassModel.from_pretrained(saved)
    with pytest.raises(ValueError, match="not a GLiClass checkpoint"):
        gliclass.pipeline(model=saved, device="cpu")


@pytest.mark.parametrize("path", ["./no/such/model", "/no/such/folder", "runs/a/b/final", "../model", "~/missing"])
def test_a_missing_local_folder_says_so(path):
    with pytest.raises(OSError, match="does not exist"):
        GLiClassModel.from_pretrained(path)
    with pytest.raises(OSError, match="does not exist"):
        gliclass.pipeline(model=path, device="cpu")


def test_a_file_instead_of_a_folder_says_so(saved):
    with pytest.raises(OSError, match="is a file"):
        GLiClassModel.from_pretrained(saved / "config.json")


def test_saving_onto_a_file_is_refused_and_nothing_is_lost(make_model, tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    with pytest.raises(OSError, match="it is a file, not a folder"):
        make_model().save_pretrained(target)
    assert target.read_text() == "keep me"


def test_saving_over_an_earlier_save_keeps_only_the_new_weights(make_model, tmp_path):
    """Sharded over single file: the old model.safetensors stayed and was loaded (the old weights);
    single file over shards: the old index stayed and loading failed on its deleted shards."""
    first, second = make_model(seed=0), make_model(seed=1)
    ids = torch.tensor([[2, first.config.class_token_index, 5, first.config.text_token_index, 6, 3]])
    for model, options in ((first, {}), (second, {"max_shard_size": "100KB"}), (first, {})):
        model.save_pretrained(tmp_path, **options)
        with torch.no_grad():
            torch.testing.assert_close(GLiClassModel.from_pretrained(tmp_path)(ids).logits, model(ids).logits)
    assert not (tmp_path / "model.safetensors.index.json").exists()


FAMILIES = Path(__file__).parent / "fixtures" / "reference_families"


@pytest.mark.parametrize(
    ("folder", "options", "message"),
    [
        (None, dict(segment_isolated_layers=5), "segment_isolated_layers=5 must be an integer from 0 to 2"),
        (None, dict(encoder_layer_id=9), "encoder_layer_id=9 is outside"),  # was an IndexError when scoring
        (None, dict(pooling_strategy="mean"), "pooling_strategy='mean' is not supported"),
        (FAMILIES / "deberta_v3_uni_encoder", dict(segment_isolated_layers=1), "BERT-style encoders"),
    ],
)
def test_options_given_to_from_pretrained_are_checked(saved, folder, options, message):
    """transformers sets them on the config after __init__, past its checks; they loaded and failed later."""
    with pytest.raises(ValueError, match=message):
        GLiClassModel.from_pretrained(folder or saved, **options)
    assert GLiClassModel.from_pretrained(saved, segment_isolated_layers=1).config.segment_isolated_layers == 1


def test_a_saved_modernbert_checkpoint_keeps_the_tokenizer_class_transformers_4_reads(tmp_path):
    """Released ModernBERT checkpoints name `PreTrainedTokenizerFast`; transformers 5 would write
    `TokenizersBackend`, which transformers 4 (and the reference on it) cannot load."""
    model = GLiClassModel.from_pretrained(FAMILIES / "modernbert_uni_encoder")
    model.save_pretrained(tmp_path / "saved")
    config = json.loads((tmp_path / "saved" / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast"
    again = GLiClassModel.from_pretrained(tmp_path / "saved")
    assert again.tokenizer.get_vocab() == model.tokenizer.get_vocab()


def test_from_backbone_refuses_a_gliclass_checkpoint():
    """It would wrap the whole GLiClass model as the encoder under new random heads."""
    with pytest.raises(ValueError, match="is a GLiClass checkpoint, not a backbone encoder"):
        GLiClassModel.from_backbone(str(FAMILIES / "deberta_v3_uni_encoder"))


@pytest.mark.parametrize(
    "config",
    [
        transformers.GPT2Config(n_embd=32, n_layer=2, n_head=4, n_positions=128),
        transformers.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, is_decoder=True),
        transformers.T5Config(d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4),
    ],
    ids=["gpt2", "bert-decoder", "t5"],
)
def test_from_backbone_refuses_a_backbone_that_is_not_an_encoder(backbone_dir, tmp_path, config):
    """A GPT-2 backbone gave every text the same scores: its labels, read first, never saw the text."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(backbone_dir)
    tokenizer.save_pretrained(tmp_path)
    config.vocab_size = len(tokenizer)
    transformers.AutoModel.from_config(config).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=f"is not an encoder \\(model_type {config.model_type!r}"):
        GLiClassModel.from_backbone(str(tmp_path))


def test_a_clean_checkpoint_loads_and_reports_no_problems(saved):
    model, info = GLiClassModel.from_pretrained(saved, output_loading_info=True)
    assert isinstance(model, GLiClassModel)
    assert not any(info.get(key) for key in ("missing_keys", "unexpected_keys", "mismatched_keys"))


def test_a_tokenizer_that_does_not_belong_to_the_model_is_refused(saved):
    config = json.loads((saved / "config.json").read_text())
    config["class_token_index"], config["text_token_index"] = config["text_token_index"], config["class_token_index"]
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="does not belong to this model"):
        gliclass.pipeline(model=saved, device="cpu")


def test_a_released_bi_encoder_without_its_tokenizer_file_is_refused(tmp_path):
    """A bi-encoder's text rows hold no markers to check, and without tokenizer.json transformers
    builds a near-empty tokenizer from tokenizer_config.json that reads every word as unknown."""
    folder = tmp_path / "bi_encoder"
    shutil.copytree(Path(__file__).parent / "fixtures" / "reference_families" / "bi_encoder", folder)
    GLiClassModel.from_pretrained(folder)  # whole: loads
    (folder / "tokenizer.json").unlink()
    with pytest.raises(OSError, match="vocabulary files"):
        GLiClassModel.from_pretrained(folder)


def test_a_saved_tokenizer_that_fails_to_load_is_named_not_taken_as_missing(tmp_path):
    """A released DeBERTa-v3 folder with only spm.model: the error says why its tokenizer did not
    load (sentencepiece missing, or the file unreadable), not that the model has none."""
    folder = tmp_path / "spm_only"
    shutil.copytree(Path(__file__).parent / "fixtures" / "reference_families" / "deberta_v3_uni_encoder", folder)
    (folder / "tokenizer.json").unlink()
    (folder / "spm.model").write_bytes(b"not a sentencepiece model")
    with pytest.raises(OSError, match=r"tokenizer in .*spm_only.*spm\.model"):
        GLiClassModel.from_pretrained(folder)


def test_a_config_that_is_not_an_object_is_refused(saved):
    (saved / "config.json").write_text("[]")
    with pytest.raises(ValueError, match="not a JSON object"):
        GLiClassModel.from_pretrained(saved)


def test_a_tensor_of_another_shape_is_refused(saved):
    weights = load_file(saved / "model.safetensors")
    weights["model.logit_scale"] = weights["model.logit_scale"].reshape(1)
    save_file(weights, saved / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match="do not"):
        GLiClassModel.from_pretrained(saved)


def test_a_uni_encoder_has_as_many_token_embeddings_as_its_vocab_size(tmp_path):
    """As the reference, which resizes the encoder to `vocab_size`: an `encoder_config.vocab_size` other
    than it (the backbone's own, before tokens were added) was a shape error here."""
    shutil.copytree(FAMILIES / "deberta_v3_uni_encoder", tmp_path, dirs_exist_ok=True)
    config = json.loads((tmp_path / "config.json").read_text())
    config["encoder_config"]["vocab_size"] += 50
    (tmp_path / "config.json").write_text(json.dumps(config))
    [item, *_] = json.loads((tmp_path / "expected.json").read_text())["items"]
    logits = GLiClassModel.from_pretrained(tmp_path).eval()(torch.tensor([item["input_ids"]])).logits
    torch.testing.assert_close(logits[0], torch.tensor(item["logits"]), atol=1e-4, rtol=0)
    config["vocab_size"] += 50  # weights with fewer rows than the config says are refused by name
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="word_embeddings.weight: \\[1507, 32\\] in the file, \\[1557, 32\\]"):
        GLiClassModel.from_pretrained(tmp_path)


def hub_cache_with(tmp_path: Path, repo_id: str, changes: dict[str, bytes | None]) -> Path:
    """A hub cache holding the DeBERTa-v3 reference checkpoint as `repo_id`, with files replaced
    (None: left out)."""
    snapshot = cached_hub_repository(tmp_path, repo_id, FAMILIES / "deberta_v3_uni_encoder")
    for name, content in changes.items():
        (snapshot / name).unlink(missing_ok=True)
        if content is not None:
            (snapshot / name).write_bytes(content)
    return tmp_path


def test_a_hub_checkpoint_with_truncated_weights_is_named(tmp_path):
    weights = (FAMILIES / "deberta_v3_uni_encoder" / "model.safetensors").read_bytes()
    cache = hub_cache_with(tmp_path, "someone/cut", {"model.safetensors": weights[: len(weights) // 2]})
    with pytest.raises(ValueError, match="model.safetensors is truncated"):
        GLiClassModel.from_pretrained("someone/cut", cache_dir=str(cache), local_files_only=True)


def test_a_hub_checkpoint_without_safetensors_weights_says_they_are_needed(tmp_path):
    weights = load_file(FAMILIES / "deberta_v3_uni_encoder" / "model.safetensors")
    torch.save(weights, tmp_path / "pytorch_model.bin")
    pickled = {"model.safetensors": None, "pytorch_model.bin": (tmp_path / "pytorch_model.bin").read_bytes()}
    cache = hub_cache_with(tmp_path / "cache", "someone/pickled", pickled)
    with pytest.raises(OSError, match="someone/pickled: no model.safetensors .* safetensors weights only") as error:
        GLiClassModel.from_pretrained("someone/pickled", cache_dir=str(cache), local_files_only=True)
    assert "use_safetensors" not in str(error.value)


@pytest.mark.parametrize("option", [{"revision": "v9"}, {"subfolder": "elsewhere"}])
def test_a_revision_or_subfolder_missing_from_the_hub_cache_is_named(tmp_path, option):
    cache = hub_cache_with(tmp_path, "someone/model", {})
    with pytest.raises(OSError, match=f"someone/model is not a local folder.* {next(iter(option.values()))!r}"):
        GLiClassModel.from_pretrained("someone/model", cache_dir=str(cache), local_files_only=True, **option)
