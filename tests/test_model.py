import pytest
import torch
from transformers import AutoTokenizer

from gliclass import DEFAULT_MODEL_DIR, GLiClassModel
from gliclass.losses import masked_cross_entropy, sigmoid_focal_loss

TEXTS = ["the team won the match", "stocks fell as the central bank raised rates again today"]
LABELS = ["sports", "business", "science and technology"]

OPTION_SETS = [
    dict(pooling_strategy="first", class_token_pooling="first", scorer_type="simple"),
    dict(pooling_strategy="last", class_token_pooling="first", scorer_type="mlp", prompt_first=False),
    dict(pooling_strategy="avg", class_token_pooling="average", scorer_type="weighted-dot"),
    dict(pooling_strategy="max", class_token_pooling="first", scorer_type="simple", normalize_features=True),
]


def encode(model, texts, labels=LABELS):
    from gliclass.padding import pad_rows
    from gliclass.prompt import PromptEncoder

    encoder = PromptEncoder(model.tokenizer, model.config.prompt_first, max_length=128)
    rows = encoder.encode(texts, [labels] * len(texts), [""] * len(texts), [""] * len(texts))
    batch = pad_rows([row.input_ids for row in rows], pad_id=0)
    return batch["input_ids"], batch["attention_mask"]


@pytest.mark.parametrize("options", OPTION_SETS)
def test_scores_do_not_depend_on_batch_padding(make_model, options):
    model = make_model(**options)
    ids, mask = encode(model, TEXTS)
    with torch.no_grad():
        batched = model(ids, mask).logits
        for row in range(len(TEXTS)):
            length = int(mask[row].sum())
            alone = model(ids[row : row + 1, :length], mask[row : row + 1, :length]).logits
            torch.testing.assert_close(batched[row], alone[0], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("options", [OPTION_SETS[0], OPTION_SETS[1]])
def test_last_layer_at_read_positions_equals_full_forward(make_model, options):
    model = make_model(**options)
    assert model.model.position_reader is not None and model.model.reads_single_positions()
    ids, mask = encode(model, TEXTS)
    with torch.inference_mode():
        shortcut = model(ids, mask).logits
    with torch.enable_grad():  # grad mode forces the full forward
        full = model(ids, mask).logits
    assert not torch.equal(shortcut, torch.zeros_like(shortcut))
    torch.testing.assert_close(shortcut, full.detach(), atol=1e-4, rtol=1e-4)


def test_logits_have_one_column_per_label_and_a_mask(make_model):
    model = make_model()
    from gliclass.prompt import PromptEncoder

    encoder = PromptEncoder(model.tokenizer, True, max_length=128)
    rows = encoder.encode(TEXTS, [["a", "b"], ["a", "b", "c", "d"]], ["", ""], ["", ""])
    width = max(len(r.input_ids) for r in rows)
    ids = torch.zeros(2, width, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, : len(r.input_ids)] = torch.tensor(r.input_ids)
        mask[i, : len(r.input_ids)] = 1
    out = model(ids, mask, labels=torch.tensor([[1.0, 0, 0, 0], [0, 0, 1, 1]]))
    assert out.logits.shape == (2, 4)
    assert out.label_mask.tolist() == [[True, True, False, False], [True, True, True, True]]
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert model.model.scorer is not None


def test_focal_loss_matches_hand_computation():
    logits = torch.tensor([[2.0, -1.0, 5.0]])
    targets = torch.tensor([[1.0, 0.0, 1.0]])
    mask = torch.tensor([[True, True, False]])
    p = torch.sigmoid(torch.tensor([2.0, -1.0]))
    expected = (0.25 * -(torch.log(p[0])) * (1 - p[0]) ** 2 + 0.75 * -(torch.log(1 - p[1])) * p[1] ** 2) / 2
    torch.testing.assert_close(sigmoid_focal_loss(logits, targets, mask, alpha=0.25, gamma=2.0), expected)
    bce = sigmoid_focal_loss(logits, targets, mask, alpha=-1, gamma=0)
    torch.testing.assert_close(bce, (-(torch.log(p[0])) - torch.log(1 - p[1])) / 2)


def test_cross_entropy_ignores_padded_labels_and_rows_without_target():
    logits = torch.tensor([[1.0, 2.0, 100.0], [0.0, 0.0, 0.0]])
    targets = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, False], [True, True, True]])
    expected = -torch.log_softmax(torch.tensor([1.0, 2.0]), -1)[1]
    torch.testing.assert_close(masked_cross_entropy(logits, targets, mask), expected)


def test_save_and_load_round_trip(make_model, tmp_path):
    model = make_model(scorer_type="weighted-dot", pooling_strategy="avg")
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file() and not (tmp_path / "pytorch_model.bin").exists()
    loaded = GLiClassModel.from_pretrained(tmp_path).eval()
    assert loaded.tokenizer is not None
    ids, mask = encode(model, TEXTS)
    with torch.no_grad():
        torch.testing.assert_close(model(ids, mask).logits, loaded(ids, mask).logits)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_a_model_loaded_in_half_precision_is_half_precision_throughout(make_model, tmp_path, dtype):
    model = make_model()
    model.save_pretrained(tmp_path)
    loaded = GLiClassModel.from_pretrained(tmp_path, dtype=dtype).eval()  # the encoder stayed float32 here
    assert {parameter.dtype for parameter in loaded.parameters()} == {dtype}
    ids, mask = encode(model, TEXTS)
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids, mask).logits.float(), model(ids, mask).logits, atol=0.1, rtol=0.05)


def test_the_shipped_model_loads_in_half_precision_throughout():
    loaded = GLiClassModel.from_pretrained(DEFAULT_MODEL_DIR, dtype=torch.bfloat16)  # its encoder_config says float32
    assert {parameter.dtype for parameter in loaded.parameters()} == {torch.bfloat16}


def test_from_backbone_adds_special_tokens(make_model):
    model = make_model()
    tokenizer = model.tokenizer
    ids = tokenizer.convert_tokens_to_ids(["<<LABEL>>", "<<SEP>>", "<<EXAMPLE>>"])
    assert ids == [model.config.class_token_index, model.config.text_token_index, model.config.example_token_index]
    assert model.get_input_embeddings().num_embeddings >= max(ids) + 1
    assert tokenizer("<<LABEL>>sports")["input_ids"][1] == ids[0]


def test_bad_checkpoint_folders_give_clear_errors(make_model, tmp_path):
    """Missing files are an `OSError` (as transformers reports them), unreadable ones a `ValueError`."""
    with pytest.raises(OSError, match="no config.json"):
        GLiClassModel.from_pretrained(tmp_path)
    model = make_model()
    model.save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        GLiClassModel.from_pretrained(tmp_path)
    weights.unlink()
    with pytest.raises(OSError, match="no weights file"):
        GLiClassModel.from_pretrained(tmp_path)
    (tmp_path / "pytorch_model.bin.index.json").write_text("{}")
    with pytest.raises(OSError, match=r"\(pytorch_model.bin.index.json\); this library reads safetensors only"):
        GLiClassModel.from_pretrained(tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(OSError, match=r"\(pytorch_model.bin\); this library reads safetensors only"):
        GLiClassModel.from_pretrained(tmp_path)
    index = tmp_path / "model.safetensors.index.json"
    for text, message in (
        ("{not json", "is not valid JSON"),
        ("[]", "has no weight_map"),
        ('{"weight_map": {}}', "lists no"),
    ):
        index.write_text(text)
        with pytest.raises(ValueError, match=f"model.safetensors.index.json {message}"):
            GLiClassModel.from_pretrained(tmp_path)
    index.write_text('{"weight_map": {"a": "model-00001-of-00002.safetensors"}}')
    with pytest.raises(OSError, match="model-00001-of-00002.safetensors is missing"):
        GLiClassModel.from_pretrained(tmp_path)


def test_a_model_loads_from_a_home_path_a_subfolder_and_with_torch_dtype(make_model, tmp_path, monkeypatch):
    model = make_model()
    model.save_pretrained(tmp_path / "models" / "clf")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert GLiClassModel.from_pretrained("~/models/clf").tokenizer is not None
    loaded = GLiClassModel.from_pretrained(tmp_path / "models", subfolder="clf")
    assert loaded.tokenizer is not None
    assert (
        GLiClassModel.from_pretrained(tmp_path / "models" / "clf", torch_dtype=torch.bfloat16).dtype == torch.bfloat16
    )
    with pytest.raises(ValueError, match="disagree"):
        GLiClassModel.from_pretrained(tmp_path / "models" / "clf", dtype=torch.float16, torch_dtype=torch.bfloat16)
    with pytest.raises(OSError, match="has no config.json"):
        GLiClassModel.from_pretrained(tmp_path, subfolder="models")


def test_a_tokenizer_with_tokens_past_the_embeddings_is_refused_at_load(make_model, tmp_path):
    model = make_model()
    model.tokenizer.add_tokens(["<<EXTRA>>"], special_tokens=True)  # added without resizing the embeddings
    model.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"1 token\(s\) past the encoder's \d+ embeddings: <<EXTRA>> \(id \d+\)"):
        GLiClassModel.from_pretrained(tmp_path)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(encoder_layer_id=True), "encoder_layer_id=True must be an integer"),  # read layer 1
        (dict(encoder_layer_id=1.0), "encoder_layer_id=1.0 must be an integer"),  # failed at the first forward
        (dict(hidden_size=0), "hidden_size=0 must be a positive integer"),  # was a ZeroDivisionError
        (dict(hidden_size=-3), "hidden_size=-3 must be a positive integer"),
        (dict(hidden_size=64.0), "hidden_size=64.0 must be a positive integer"),
    ],
)
def test_layer_and_width_options_that_are_not_integers_are_named(backbone_dir, options, message):
    with pytest.raises(ValueError, match=message):
        GLiClassModel.from_backbone(str(backbone_dir), **options)


@pytest.mark.parametrize("architecture", ["bi-encoder", "bi-encoder-fused"])
def test_from_backbone_refuses_bi_encoders_instead_of_a_random_label_encoder(backbone_dir, architecture):
    """It built one whose label encoder had random weights and no label tokenizer."""
    with pytest.raises(ValueError, match=f"not architecture_type='{architecture}'.*start random"):
        GLiClassModel.from_backbone(
            str(backbone_dir), architecture_type=architecture, label_model_name=str(backbone_dir)
        )


def test_unsupported_reference_options_are_refused(make_model):
    with pytest.raises(ValueError, match="use_lstm"):
        make_model(use_lstm=True)
    with pytest.raises(ValueError, match="scorer_type='decoder-kv'"):
        make_model(scorer_type="decoder-kv")


@pytest.mark.parametrize("architecture", ["encoder-decoder", "encoder-decoder-cls", "decoder-kv", "something-new"])
def test_other_architectures_are_refused_by_name(make_model, architecture):
    with pytest.raises(ValueError, match=f"architecture_type='{architecture}'"):
        make_model(architecture_type=architecture)


def test_from_backbone_leaves_a_given_tokenizer_as_it_was(backbone_dir):
    """The markers go into the model's copy; the caller's tokenizer was changed in place before."""
    tokenizer = AutoTokenizer.from_pretrained(backbone_dir)
    size = len(tokenizer)
    model = GLiClassModel.from_backbone(str(backbone_dir), tokenizer=tokenizer)
    assert len(tokenizer) == size and "<<LABEL>>" not in tokenizer.get_vocab()
    assert len(model.tokenizer) == size + 3
    with pytest.raises(TypeError, match="start_as_embedder must be True or False, got 'yes'"):
        GLiClassModel.from_backbone(str(backbone_dir), start_as_embedder="yes")
