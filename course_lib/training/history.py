"""The record of a run: per epoch, and the running training loss per fraction of an epoch."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

CURVE_POINTS_PER_EPOCH = 8  # enough to read a curve in fast mode's single epoch


@dataclass
class History:
    """Per-epoch records of a run; plain lists so it can live inside a checkpoint."""

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)  # training time of the epoch (no eval)
    # the training curve within epochs: CURVE_POINTS_PER_EPOCH points per epoch, each the mean loss and
    # accuracy of the batches since the previous point, at its (fractional) epoch, e.g. 0.125, 0.25, ..., 1.0
    curve_epoch: list[float] = field(default_factory=list)
    curve_loss: list[float] = field(default_factory=list)
    curve_acc: list[float] = field(default_factory=list)

    def add_curve(self, points: list[tuple[float, float, float]]) -> None:
        """Add (epoch, mean train loss, train accuracy) points of the training curve."""
        for epoch, loss, acc in points:
            self.curve_epoch.append(epoch)
            self.curve_loss.append(loss)
            self.curve_acc.append(acc)

    def append(self, **record) -> None:
        """Add one epoch's values (one keyword per field)."""
        for name, value in record.items():
            getattr(self, name).append(value)

    def to_dict(self) -> dict:
        """Plain lists (what a checkpoint stores)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        """The History a checkpoint stored (fields it lacks stay empty)."""
        return cls(**{f.name: list(d.get(f.name, [])) for f in fields(cls)})

    def __len__(self) -> int:
        return len(self.epoch)

    def table(self) -> str:
        """The history as an aligned text table, one row per epoch."""
        rows = ["epoch  train_loss  train_acc  test_loss  test_acc  seconds"]
        for i in range(len(self)):
            rows.append(f"{self.epoch[i]:>5}  {self.train_loss[i]:>10.4f}  {self.train_acc[i]:>9.4f}  "
                        f"{self.test_loss[i]:>9.4f}  {self.test_acc[i]:>8.4f}  {self.seconds[i]:>7.1f}")
        return "\n".join(rows)
