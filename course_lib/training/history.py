"""The per-epoch record of a run."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


@dataclass
class History:
    """Per-epoch records of a run; plain lists so it can live inside a checkpoint."""

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)  # training time of the epoch (no eval)

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
