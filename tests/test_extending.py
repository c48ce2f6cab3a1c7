"""Adding a data set, a quiz kind or a head is one registered entry, made here inside the test only:
nothing else in course_lib is touched, and the normal API (provisioning, training, banks, widgets) uses it."""
from __future__ import annotations

import argparse
import hashlib
import io
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from course_lib import data, models, quiz, training
from course_lib.data import provision
from course_lib.data.sources import Source
from course_lib.quiz import widgets as quiz_widgets

# ------------------------------------------------------------------ a data set in a new format

def _toy_arrays(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """12x12 images: a bright 4x4 square top-left (class 0) or bottom-right (class 1), on noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n).astype(np.int64)
    images = rng.integers(0, 40, (n, 1, 12, 12)).astype(np.uint8)
    for i, c in enumerate(labels):
        images[i, 0, 1 + 6 * c: 5 + 6 * c, 1 + 6 * c: 5 + 6 * c] = 250
    return images, labels


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def read_npy_pair(spec, folder: Path, files) -> tuple[torch.Tensor, torch.Tensor]:
    """The new format's reader: (images.npy, labels.npy)."""
    images, labels = (np.load(folder / f.name, allow_pickle=False) for f in files)
    return torch.from_numpy(images), torch.from_numpy(labels)


@pytest.fixture()
def toy_dataset(monkeypatch):
    """A data set registered the way a course author adds one: one format reader, one DatasetSpec."""
    payloads = {}
    for split, n, seed in (("train", 128, 0), ("test", 64, 1)):
        images, labels = _toy_arrays(n, seed)
        payloads[f"{split}_images.npy"], payloads[f"{split}_labels.npy"] = _npy(images), _npy(labels)
    pinned = {name: data.DataFile(name, hashlib.sha256(blob).hexdigest()) for name, blob in payloads.items()}
    made = []

    def write_them(spec, root: Path) -> None:  # an offline copy, as a registry would carry it
        made.append(spec.name)
        (root / spec.folder).mkdir(parents=True, exist_ok=True)
        for name, blob in payloads.items():
            (root / spec.folder / name).write_bytes(blob)

    monkeypatch.setitem(data.FORMATS, "npy_pair", read_npy_pair)  # register_format, undone after the test
    spec = data.DatasetSpec(
        "toy_squares", (1, 12, 12), ("top-left", "bottom-right"), (0.12,), (0.25,), "toy", "npy_pair",
        train_files=(pinned["train_images.npy"], pinned["train_labels.npy"]),
        test_files=(pinned["test_images.npy"], pinned["test_labels.npy"]),
        sources=(Source("written by the test", False, write_them),),
        backbone="mnist_small", recipe={"epochs": 3, "batch_size": 16, "lr": 0.1})
    data.register(spec)
    yield spec, made
    del data.DATASETS["toy_squares"]


def test_a_new_data_set_is_one_entry_and_trains_through_the_normal_api(toy_dataset, tmp_path, monkeypatch):
    spec, made = toy_dataset
    monkeypatch.setenv("COURSE_FAST", "0")
    assert not data.is_available("toy_squares", tmp_path)
    report = provision.fetch("toy_squares", tmp_path, try_download=False)  # the spec's own source, verified
    assert made == ["toy_squares"] and "written by the test; 4 files verified (sha256)" in report
    assert all(provision.verify("toy_squares", tmp_path).values())
    x, y = data.load_tensors("toy_squares", True, tmp_path)  # read by the new format's reader
    assert x.shape == (128, 1, 12, 12) and x.dtype == torch.uint8 and set(y.tolist()) == {0, 1}

    config = training.default_config("toy_squares", data_root=str(tmp_path))  # the spec's recipe
    assert (config.epochs, config.batch_size) == (3, 16)
    model, history = training.run_training(config, progress=False)
    assert model.head.num_classes == 2 and history.epoch == [1, 2, 3]
    assert history.train_loss[-1] < history.train_loss[0]  # it learns
    cli_config = training.config_from_args(argparse.Namespace(dataset="toy_squares", epochs=1))
    assert (cli_config.epochs, cli_config.lr) == (1, 0.1)  # the command line reads the same recipe


def test_a_data_set_in_an_unknown_format_is_refused():
    spec = data.DatasetSpec("toy_bad", (1, 8, 8), ("a", "b"), (0.5,), (0.5,), "toy", "tiff_stack", (), ())
    with pytest.raises(KeyError, match="unknown format 'tiff_stack'; valid formats: cifar_pickle, idx"):
        data.register(spec)
    assert "toy_bad" not in data.DATASETS


# ------------------------------------------------------------------ a quiz kind

class Word(quiz.QuestionKind):
    """A one-word answer; `ignore_case: true` accepts any capitalization (a key of this kind only)."""

    name = "word"
    fields = frozenset({"answer", "answer_from", "ignore_case"})
    placeholder = "one word"

    def parse(self, raw, q, e) -> bool:
        if "answer" in raw and not (isinstance(raw["answer"], str) and raw["answer"].isidentifier()):
            e("answer", f"a word answer is one word, got {raw['answer']!r}")
        q.answer = raw.get("answer")
        q.extra["ignore_case"] = bool(raw.get("ignore_case", False))
        return True

    def matches(self, q, given, expected) -> bool:
        fold = str.lower if q.extra["ignore_case"] else str
        return fold(str(given).strip()) == fold(expected)


@pytest.fixture()
def word_kind():
    """Registered the way the course's kinds are (`@register_kind` on the class), for this test only."""
    quiz.register_kind(Word)
    yield
    del quiz.KINDS["word"]


BANK = textwrap.dedent("""\
    week: 9
    title: A bank with a new kind
    questions:
      - id: activation
        kind: word
        prompt: Which function is max(0, x)?
        answer: ReLU
        ignore_case: true
        explanation: The rectified linear unit.
      - id: largest-head
        kind: single
        prompt: Which head has the most parameters on 512x7x7 features?
        choices: [gap_fc, flatten_fc]
        answer_from: {fn: largest_head, args: {in_channels: 512, num_classes: 10, feature_hw: [7, 7]}}
        explanation: Flatten keeps every position.
    """)


def test_a_new_quiz_kind_is_one_registered_class(word_kind, tmp_path):
    bank = quiz.parse_bank(BANK, tmp_path / "week09.yaml")
    word = bank.questions[0]
    assert word.kind == "word" and quiz.validate_answers(bank) == []
    assert quiz.check_answer(word, "relu").correct and not quiz.check_answer(word, "sigmoid").correct
    assert quiz.score(bank.questions, {"activation": "ReLU", "largest-head": "flatten_fc"}) == quiz.Score(2, 2, 2)
    assert "**Answer:** `ReLU`" in quiz_widgets.review_markdown(bank)
    view = quiz_widgets.show_quiz(bank, namespace={}, progress=False)
    view.questions[0].set_answer("RELU")  # the input widget the kind made, as a learner types
    view.questions[0].check_button.click()
    assert view.questions[0].result.correct and view.score().correct == 1
    with pytest.raises(quiz.QuizBankError, match="a word answer is one word"):
        quiz.parse_bank(BANK.replace("answer: ReLU", "answer: two words"), tmp_path / "week09.yaml")


def test_without_its_registration_the_kind_is_unknown(tmp_path):
    with pytest.raises(quiz.QuizBankError, match="unknown kind 'word'"):
        quiz.parse_bank(BANK, tmp_path / "week09.yaml")


# ------------------------------------------------------------------ a head

class MaxFc(models.Head):
    """Global max pooling, then one fully connected layer."""

    name = "max_fc"

    def __init__(self, in_channels, num_classes, feature_hw=None):
        super().__init__(in_channels, num_classes, None)
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.fc(x.amax(dim=(2, 3)))  # (N,C,H,W) -> (N,C) -> (N,K)


def test_a_new_head_is_one_registered_class(monkeypatch):
    monkeypatch.setitem(models.HEADS, "max_fc", MaxFc)
    model = models.build_model("cifar10", "max_fc")
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert models.count_parameters(model.head) == 128 * 10 + 10
