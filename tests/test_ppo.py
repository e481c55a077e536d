import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import gliclass
from gliclass.data import Example
from gliclass.prompt import PromptEncoder
from training.engine import resume_checkpoint
from training.feedback.data import FeedbackRecord
from training.ppo.cli import load_episodes, main
from training.ppo.episodes import EpisodeCollator, EpisodeSet, episodes_from_examples, episodes_from_feedback
from training.ppo.objective import ValueHead, k3_kl, label_log_probs, normalise_advantages, ppo_loss, row_mean
from training.ppo.rewards import (
    accuracy_reward,
    callable_reward,
    check_reward,
    f1_reward,
    feedback_reward,
    get_reward,
    recall_weighted_reward,
)
from training.ppo.trainer import PPOArguments, PPOTrainer

LABELS = ["sports", "business", "politics"]
EXAMPLES = [
    {"text": "the team won the match", "labels": ["sports"]},
    {"text": "the championship final was great", "labels": ["sports"]},
    {"text": "stocks fell as markets reacted", "labels": ["business"]},
    {"text": "the central bank raised interest rates", "labels": ["business"]},
    {"text": "parliament passed the new budget bill", "labels": ["politics"]},
    {"text": "the president met foreign leaders", "labels": ["politics"]},
]


def hand_case():
    """One sample, two labels: p = (0.5, 0.75), actions (1, 0), old p = (0.4, 0.8), reference p = (0.25, 0.5)."""
    logits = torch.tensor([[0.0, math.log(3.0)]])
    reference = torch.tensor([[math.log(1 / 3), 0.0]])
    actions = torch.tensor([[1.0, 0.0]])
    old = torch.tensor([[math.log(0.4), math.log(0.2)]])
    return logits, reference, actions, old


def test_ppo_loss_per_row_matches_hand_computation():
    logits, reference, actions, old = hand_case()
    both = torch.tensor([[True, True]])
    loss = ppo_loss(
        logits, reference, actions, old, torch.tensor([2.0]), both, both, clip_range=0.2, entropy_coef=0.1, kl_coef=0.2
    )
    # ratio = (0.5 * 0.25) / (0.4 * 0.2) = 1.5625, clipped to 1.2; surrogate = min(1.5625 * 2, 1.2 * 2) = 2.4
    assert loss.policy.item() == pytest.approx(-2.4)
    entropy = (math.log(2) + -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))) / 2
    assert loss.entropy.item() == pytest.approx(entropy)
    # k3 with r = p_ref(a) / p(a): label 0: 0.25 / 0.5, label 1: 0.5 / 0.25
    kl = ((0.5 - 1 - math.log(0.5)) + (2 - 1 - math.log(2))) / 2
    assert kl == pytest.approx(0.25) and loss.kl.item() == pytest.approx(kl)
    assert loss.total.item() == pytest.approx(-2.4 - 0.1 * entropy + 0.2 * kl)
    assert loss.clip_fraction.item() == 1.0
    assert loss.approx_kl.item() == pytest.approx(0.5625 - math.log(1.5625))


def test_ppo_loss_per_label_clips_each_label_and_ignores_unjudged_ones():
    logits, reference, actions, old = hand_case()
    both = torch.tensor([[True, True]])
    advantages = torch.tensor([[1.0, -1.0]])
    loss = ppo_loss(
        logits, reference, actions, old, advantages, both, both, clip_range=0.2, entropy_coef=0.0, kl_coef=0.0
    )
    # both ratios are 1.25: min(1.25, 1.2) = 1.2 for A = +1, min(-1.25, -1.2) = -1.25 for A = -1
    assert loss.policy.item() == pytest.approx(-(1.2 - 1.25) / 2)
    first_only = torch.tensor([[True, False]])
    loss = ppo_loss(logits, reference, actions, old, advantages * first_only, first_only, both, 0.2, 0.1, 0.2)
    assert loss.policy.item() == pytest.approx(-1.2)
    assert loss.entropy.item() == pytest.approx(math.log(2))  # the bonus only where there is signal
    assert loss.kl.item() == pytest.approx(0.25)  # the KL covers every real candidate


def test_k3_is_non_negative_and_zero_at_the_reference():
    log_probs = torch.log(torch.tensor([0.1, 0.5, 0.9]))
    assert torch.equal(k3_kl(log_probs, log_probs), torch.zeros(3))
    assert (k3_kl(log_probs, torch.log(torch.tensor([0.3, 0.2, 0.6]))) > 0).all()


REWARD_CASE = dict(
    texts=["x", "y"],
    labels=[["a", "b", "c"], ["a", "b", "c"]],
    actions=torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]),
    probs=torch.full((2, 3), 0.5),
    targets=torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]]),
    mask=torch.ones(2, 3, dtype=torch.bool),
)


def test_built_in_rewards_by_hand():
    assert f1_reward(**REWARD_CASE).tolist() == pytest.approx([0.5, 1.0])  # tp 1, fp 1, fn 1; nothing true nor chosen
    assert accuracy_reward(**REWARD_CASE).tolist() == pytest.approx([1 / 3, 1.0])
    assert feedback_reward(**REWARD_CASE).tolist() == [[1.0, -1.0, -1.0], [1.0, 1.0, 1.0]]
    assert recall_weighted_reward(3.0)(**REWARD_CASE).tolist() == [[3.0, -1.0, -3.0], [1.0, 1.0, 1.0]]
    for weight in (0.0, float("inf"), float("nan")):  # inf: every rollout's reward would be refused mid-run
        with pytest.raises(ValueError, match="positive_weight must be a positive finite number"):
            recall_weighted_reward(weight)
    with pytest.raises(ValueError, match="unknown reward 'precision'"):
        get_reward("precision")


@pytest.mark.parametrize("reward", [f1_reward, accuracy_reward, feedback_reward, recall_weighted_reward(2.0)])
def test_unjudged_labels_change_neither_reward_nor_log_prob(reward):
    torch.manual_seed(0)
    judged = torch.tensor([[True, False, True, False], [False, True, True, False]])
    targets = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 1.0, 0.0, 1.0]])
    logits = torch.randn(2, 4)
    actions = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    flipped = torch.where(judged, actions, 1 - actions)
    texts, labels = ["x", "y"], [list("abcd")] * 2
    before = reward(texts, labels, actions, torch.sigmoid(logits), targets, judged)
    after = reward(texts, labels, flipped, torch.sigmoid(logits), targets, judged)
    assert torch.equal(before, after)
    if before.ndim == 2:
        assert not before[~judged].any()
    log_prob = (label_log_probs(logits, actions) * judged).sum(-1)
    assert torch.equal(log_prob, (label_log_probs(logits, flipped) * judged).sum(-1))
    # and the PPO loss (with no KL term, which deliberately covers every candidate) ignores them too
    old = label_log_probs(logits + 0.3, actions)
    advantages = before if before.ndim == 2 else before - before.mean()
    loss = ppo_loss(logits, logits, actions, old, advantages, judged, torch.ones_like(judged), 0.2, 0.01, 0.0)
    old_flipped = label_log_probs(logits + 0.3, flipped)
    assert loss.total.item() == pytest.approx(
        ppo_loss(
            logits, logits, flipped, old_flipped, advantages, judged, torch.ones_like(judged), 0.2, 0.01, 0.0
        ).total.item()
    )


def test_callable_reward_is_wrapped_and_checked():
    seen = {}

    def count_chosen(texts, labels, actions, probs):
        seen["args"] = (texts, labels)
        return actions.sum(-1)

    reward = callable_reward(count_chosen)
    assert reward(**REWARD_CASE).tolist() == [2.0, 0.0] and seen["args"][0] == ["x", "y"]
    per_label = callable_reward(lambda texts, labels, actions, probs: torch.ones_like(actions))
    case = dict(REWARD_CASE, mask=torch.tensor([[True, True, False], [True, False, False]]))
    assert per_label(**case).tolist() == [[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    with pytest.raises(TypeError, match="callable"):
        callable_reward("f1")
    with pytest.raises(ValueError, match=r"shape \(2,\) or \(2, 3\)"):
        check_reward(torch.ones(3), 2, 3)
    with pytest.raises(FloatingPointError, match="NaN"):
        check_reward(torch.tensor([1.0, float("nan")]), 2, 3)
    with pytest.raises(TypeError, match="torch.Tensor"):
        check_reward([1.0, 2.0], 2, 3)


def test_advantage_normalisation_and_value_head():
    mask = torch.tensor([[True, True, False], [True, False, False]])
    advantages = torch.tensor([[1.0, 2.0, 100.0], [3.0, -50.0, 7.0]])
    normal = normalise_advantages(advantages, mask)
    assert normal[mask].mean().item() == pytest.approx(0.0, abs=1e-6)
    assert normal[mask].std(unbiased=False).item() == pytest.approx(1.0, abs=1e-4)
    assert not normal[~mask].any()
    assert row_mean(advantages, mask).tolist() == [1.5, 3.0]

    torch.manual_seed(0)
    head = ValueHead(8)
    text = torch.randn(4, 8, requires_grad=True)
    labels = torch.randn(4, 3, 8, requires_grad=True)
    assert torch.equal(head(text, labels), torch.zeros(4, 3))  # starts at a zero baseline
    targets = torch.tensor([1.0, -1.0, 1.0]).expand(4, 3)
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-2)
    for _ in range(200):
        loss = ((head(text, labels) - targets) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.01
    assert text.grad is None and labels.grad is None  # the baseline never trains the classifier


def test_episodes_from_labels_and_feedback_and_their_collation(make_model):
    examples = [Example("the team won", {"sports": 1.0}), {"text": "stocks fell", "labels": []}]
    full = episodes_from_examples(examples, LABELS)
    assert full[0].targets == (1.0, 0.0, 0.0) and all(all(e.judged) for e in full)
    with pytest.raises(ValueError, match=r"\['music'\] that are not among"):
        episodes_from_examples([{"text": "x", "labels": ["music"]}], LABELS)
    with pytest.raises(TypeError, match="example 0"):
        episodes_from_examples(["just text"], LABELS)
    records = [
        FeedbackRecord("the team won", LABELS, accepted=["sports"], rejected=["politics"]),
        FeedbackRecord("skipped text", LABELS),
    ]
    [episode] = episodes_from_feedback(records)
    assert episode.targets == (1.0, 0.0, 0.0) and episode.judged == (True, False, True)
    with pytest.raises(ValueError, match="nothing|no accepted"):
        episodes_from_feedback(records[1:])

    model = make_model()
    shuffled = EpisodeSet([episode] * 4, seed=1)
    collator = EpisodeCollator(PromptEncoder(model.tokenizer, True, 128), model.tokenizer.pad_token_id)
    batch = collator([shuffled[i] for i in range(4)])
    for row_labels, targets, judged in zip(batch["labels"], batch["targets"], batch["judged"]):
        as_dict = dict(zip(row_labels, zip(targets.tolist(), judged.tolist())))
        assert as_dict == {"sports": (1.0, True), "business": (0.0, False), "politics": (0.0, True)}
    assert len({tuple(labels) for labels in batch["labels"]}) > 1  # label order varies
    assert model(batch["input_ids"], batch["attention_mask"]).logits.shape == (4, 3)


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="clip_range"):
        PPOArguments(output_dir="x", clip_range=1.5)
    with pytest.raises(ValueError, match="at least 1"):
        PPOArguments(output_dir="x", samples_per_text=0)
    with pytest.raises(ValueError, match="target_kl"):
        PPOArguments(output_dir="x", target_kl=0.0)
    for bad, message in (
        ({"max_steps": 0}, "max_steps must be a positive integer"),
        ({"max_steps": -3}, "max_steps must be a positive integer"),
        ({"encoder_lr": -1.0}, "encoder_lr must be a number >= 0"),
        ({"head_lr": float("inf")}, "head_lr must be a number >= 0"),
        ({"warmup_ratio": 2.0}, "warmup_ratio is a share"),
        ({"save_steps": -1}, "save_steps must be a positive integer"),
        ({"max_seconds": -5.0}, "max_seconds must be a number >= 0"),
        ({"value_lr": -1.0}, "value_lr must be a number >= 0"),
        ({"kl_coef": float("nan")}, "kl_coef must be a number >= 0"),
        ({"entropy_coef": float("inf")}, "entropy_coef must be a number >= 0"),
        ({"temperature": float("inf")}, "temperature must be a positive finite number"),
        ({"target_kl": float("nan")}, "target_kl must be a positive finite number"),
    ):
        with pytest.raises(ValueError, match=message):
            PPOArguments(output_dir="x", **bad)


def fast_args(tmp_path, **options):
    settings = dict(
        output_dir=str(tmp_path),
        batch_size=6,
        samples_per_text=4,
        encoder_lr=1e-3,
        head_lr=3e-3,
        logging_steps=1,
        progress=False,
        scheduler="constant",
        seed=3,
    )
    settings.update(options)
    return PPOArguments(**settings)


def test_short_run_changes_the_weights_and_saves_a_pipeline_model(make_model, tmp_path):
    model = make_model(pooling_strategy="avg", class_token_pooling="average")
    start = {name: value.clone() for name, value in model.state_dict().items()}
    episodes = episodes_from_examples(EXAMPLES, LABELS)
    args = fast_args(tmp_path, max_steps=4, temperature=4.0, include_greedy=True)
    trained = PPOTrainer(model, args, episodes, get_reward("recall_weighted", 2.0)).train()
    assert any(not torch.equal(start[name], value) for name, value in trained.state_dict().items())
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    for key in (
        "reward",
        "kl",
        "entropy",
        "clip_fraction",
        "value_loss",
        "approx_kl",
        "lr_encoder",
        "lr_heads",
        "ppo_epochs",
    ):
        assert all(math.isfinite(r[key]) for r in records), key
    assert records[0]["ppo_epochs"] >= 1 and records[-1]["kl"] > 0  # the policy left the reference
    clf = gliclass.pipeline(model=str(tmp_path / "final"), device="cpu")
    saved = clf(EXAMPLES[0]["text"], candidate_labels=LABELS)
    returned = gliclass.pipeline(model=trained, device="cpu")(EXAMPLES[0]["text"], candidate_labels=LABELS)
    assert saved["labels"] == returned["labels"] and saved["scores"] == pytest.approx(returned["scores"], abs=1e-6)
    # no value head inside
    assert not any(key.startswith("net.") for key in load_file(tmp_path / "final" / "model.safetensors"))


def test_the_objective_drives_free_logits_to_the_targets():
    """The rollout → reward → advantage → clipped update loop, on free logits instead of a network."""
    torch.manual_seed(0)
    targets = (torch.rand(8, 5) < 0.3).float()
    for reward in (feedback_reward, f1_reward):
        logits = torch.nn.Parameter(torch.randn(8, 5))
        optimizer = torch.optim.Adam([logits], lr=0.05)
        judged = torch.ones(8, 5, dtype=torch.bool)
        index = torch.arange(8).repeat(4)
        for _ in range(100):
            with torch.no_grad():
                actions = torch.bernoulli(torch.sigmoid(logits[index]))
                rewards = reward(None, None, actions, torch.sigmoid(logits[index]), targets[index], judged[index])
                advantages = normalise_advantages(
                    rewards, judged[index] if rewards.ndim == 2 else judged[index].any(-1)
                )
                old = label_log_probs(logits[index], actions)
            for _ in range(4):
                loss = ppo_loss(
                    logits[index],
                    logits[index].detach(),
                    actions,
                    old,
                    advantages,
                    judged[index],
                    judged[index],
                    0.2,
                    0.0,
                    0.0,
                )
                optimizer.zero_grad()
                loss.total.backward()
                optimizer.step()
        assert ((logits > 0) == (targets > 0)).float().mean().item() >= 0.9, reward.__name__


def test_target_kl_stops_the_ppo_epochs_early(make_model, tmp_path):
    episodes = episodes_from_examples(EXAMPLES, LABELS)
    args = fast_args(tmp_path, max_steps=2, ppo_epochs=8, target_kl=1e-6, temperature=4.0)
    PPOTrainer(make_model(), args, episodes, get_reward("feedback")).train()
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all(1 <= record["ppo_epochs"] < 8 for record in records)


def test_nan_stops_with_a_clear_message(make_model, tmp_path):
    episodes = episodes_from_examples(EXAMPLES, LABELS)
    broken = make_model()
    with torch.no_grad():
        next(broken.model.text_projector.parameters()).fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="not finite at step|PPO loss is nan"):
        PPOTrainer(broken, fast_args(tmp_path, max_steps=3, target_kl=None), episodes, get_reward("feedback")).train()
    with pytest.raises(FloatingPointError, match="NaN"):
        nan_reward = callable_reward(lambda texts, labels, actions, probs: torch.full((len(texts),), float("nan")))
        PPOTrainer(make_model(), fast_args(tmp_path / "r", max_steps=1), episodes, nan_reward).train()


def test_resume_after_a_crash_ends_with_the_same_weights(make_model, tmp_path):
    episodes = episodes_from_examples(EXAMPLES, LABELS)
    options = dict(max_steps=5, batch_size=4, save_steps=1, scheduler="linear", temperature=4.0)
    straight = PPOTrainer(make_model(), fast_args(tmp_path / "straight", **options), episodes, feedback_reward).train()
    assert any(
        not torch.equal(a, b) for a, b in zip(make_model().state_dict().values(), straight.state_dict().values())
    )
    calls = []

    def crashing(*arguments):
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("reward service down")
        return feedback_reward(*arguments)

    with pytest.raises(RuntimeError, match="reward service down"):  # never swallowed
        PPOTrainer(make_model(), fast_args(tmp_path / "crashed", **options), episodes, crashing).train()
    assert (tmp_path / "crashed" / "checkpoint-3").is_dir() and not (tmp_path / "crashed" / "final").exists()
    crashed_args = fast_args(tmp_path / "crashed", **options)
    other_start = make_model()
    with torch.no_grad():
        other_start.model.logit_scale += 1.0
    others = [  # what the run learns from may not change on resume either
        (make_model(), episodes[1:], crashing, "episodes changed"),
        (make_model(), episodes, feedback_reward, "reward 'crashing' -> 'feedback_reward'"),
        (other_start, episodes, crashing, "start model changed"),
    ]
    for model, other_episodes, reward, change in others:
        with pytest.raises(ValueError, match=change):
            PPOTrainer(model, crashed_args, other_episodes, reward).train(resume=True)
    resumed = PPOTrainer(make_model(), crashed_args, episodes, crashing).train(resume=True)  # 4th call is past
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert sorted(p.name for p in (tmp_path / "crashed").glob("checkpoint-*")) == ["checkpoint-4", "checkpoint-5"]


def test_command_line_from_feedback_and_from_labels(make_model, tmp_path):
    model_dir = tmp_path / "start"
    make_model().save_pretrained(model_dir)
    feedback = tmp_path / "fb.jsonl"
    feedback.write_text(
        "\n".join(
            json.dumps(
                {
                    "text": e["text"],
                    "candidate_labels": LABELS,
                    "accepted": e["labels"],
                    "rejected": [label for label in LABELS[:2] if label not in e["labels"]],
                }
            )
            for e in EXAMPLES
        )
    )
    main(
        [
            "--model",
            str(model_dir),
            "--feedback",
            str(feedback),
            "--out",
            str(tmp_path / "fb-out"),
            "--max-steps",
            "2",
            "--no-progress",
            "--target-kl",
            "none",
        ]
    )
    fb_model = gliclass.pipeline(model=str(tmp_path / "fb-out" / "final"), device="cpu")
    assert fb_model("the team won", candidate_labels=LABELS)["labels"]
    with pytest.raises(OSError, match=r"fb-out has no config.json; .* the model that training run saved is .*final"):
        gliclass.pipeline(model=str(tmp_path / "fb-out"), device="cpu")
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(json.dumps(e) for e in EXAMPLES))
    main(
        [
            "--model",
            str(model_dir),
            "--train",
            str(data),
            "--labels",
            ",".join(LABELS),
            "--out",
            str(tmp_path / "out"),
            "--reward",
            "f1",
            "--epochs",
            "1",
            "--no-progress",
        ]
    )
    assert (tmp_path / "out" / "final" / "model.safetensors").is_file()
    with pytest.raises(ValueError, match="--labels and --labels-file go with --train"):
        load_episodes(feedback, None, "a,b")


def test_labels_that_hold_commas_come_from_a_labels_file(make_model, tmp_path):
    """`--labels` splits at commas; `--labels-file` takes one label a line, as classify and feedback do."""
    model_dir = tmp_path / "start"
    make_model().save_pretrained(model_dir)
    data = tmp_path / "train.jsonl"
    data.write_text(
        json.dumps({"text": "a new novel and an album", "labels": ["books, music"]})
        + "\n"
        + json.dumps({"text": "the team won", "labels": ["sports"]})
    )
    labels = tmp_path / "labels.txt"
    labels.write_text("books, music\nsports\n")
    out = tmp_path / "out"
    arguments = ["--model", str(model_dir), "--train", str(data), "--labels-file", str(labels), "--out", str(out)]
    main([*arguments, "--reward", "f1", "--max-steps", "1", "--no-progress"])
    assert (out / "final" / "model.safetensors").is_file()
    with pytest.raises(SystemExit):
        main([*arguments, "--labels", "sports"])


FAMILIES = Path(__file__).parent / "fixtures" / "reference_families"


@pytest.mark.parametrize("case", ["bi_encoder", "bi_encoder_fused", "modernbert_uni_encoder_cross_attn"])
def test_ppo_refuses_models_whose_text_is_not_one_pooled_vector(case, tmp_path):
    """Bi-encoders and token-level text (the cross-attn family): one clear refusal before training."""
    model = gliclass.GLiClassModel.from_pretrained(FAMILIES / case)
    episodes = episodes_from_examples([{"text": "the team won", "labels": ["sports"]}], ["sports", "politics"])
    with pytest.raises(ValueError, match="PPO trains uni-encoder models that pool the text into one vector"):
        PPOTrainer(model, fast_args(tmp_path), episodes, get_reward("f1"))


def test_a_training_label_outside_labels_is_named_by_file_and_line(tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_text('{"text": "the team won", "labels": ["sports"]}\n{"text": "a bill", "labels": ["politics"]}\n')
    with pytest.raises(ValueError, match=r"data.jsonl:2: true label 'politics' is not among the candidate labels"):
        load_episodes(None, data, "sports,business")


def test_a_label_scored_zero_in_a_label_score_map_is_a_negative_episode_target():
    """The reference's `{label: score}` format: a 0.0 names a negative, not a true label."""
    (episode,) = episodes_from_examples([Example("the team won", {"sports": 1.0, "politics": 0.0})], LABELS)
    assert dict(zip(episode.candidates, episode.targets)) == {"sports": 1.0, "business": 0.0, "politics": 0.0}


def test_an_empty_training_file_is_named(tmp_path):
    data = tmp_path / "empty.jsonl"
    data.write_text("\n")
    with pytest.raises(ValueError, match=r"empty.jsonl holds no examples"):
        load_episodes(None, data, "sports,business")


@pytest.mark.parametrize("resume", [False, True])
def test_an_output_folder_that_is_a_file_is_named(tmp_path, resume):
    """`--out fb.jsonl` (the feedback file by mistake) failed at mkdir with "[Errno 17] File exists"."""
    feedback = tmp_path / "fb.jsonl"
    feedback.write_text("{}\n")
    with pytest.raises(ValueError, match=r"fb.jsonl is a file; the output is a folder"):
        resume_checkpoint(feedback, resume)
    assert feedback.read_text() == "{}\n"
