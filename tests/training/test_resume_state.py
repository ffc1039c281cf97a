"""The callbacks' counters a resumed run restores, and a damaged copy of them."""

from __future__ import annotations

from pathlib import Path

import keras
import pytest

from digit_experiments.core.errors import UserError
from digit_experiments.training.callbacks.resume_state import CallbackStateBackup


def test_counters_saved_at_an_epoch_end_come_back_at_the_next_train_begin(tmp_path: Path) -> None:
    stopping = keras.callbacks.EarlyStopping(patience=5)
    stopping.wait, stopping.best = 3, 0.25
    CallbackStateBackup([stopping], tmp_path / "state.json").on_epoch_end(4)
    restored = keras.callbacks.EarlyStopping(patience=5)
    CallbackStateBackup([restored], tmp_path / "state.json").on_train_begin()
    assert (restored.wait, restored.best) == (3, 0.25)


@pytest.mark.parametrize("damaged", [b'[{"wait": 3, "be', b"\xff\xfe\x00 not text"])
def test_a_damaged_state_file_is_named_with_how_to_go_on(damaged: bytes, tmp_path: Path) -> None:
    (tmp_path / "state.json").write_bytes(damaged)
    with pytest.raises(UserError, match="state.json is damaged.*Delete that file"):
        CallbackStateBackup([keras.callbacks.EarlyStopping()], tmp_path / "state.json").on_train_begin()
